"""One way to check settings: a :class:`Rule` says what a value must be, in a test and in words; every config —
a training config, a design run's TOML tables, an optimizer's options, the diversity and quality filters — declares
its rules, and :func:`problems` / :func:`table_problems` list every bad value at once, which :func:`refuse` raises as
one :class:`~chemrnn.errors.InputError` (exit code 2) before anything is written.

Dataclass configs declare a rule on the field itself: ``budget: int = setting(integer(1), 5000)``; a table of
options (TOML) declares a ``{key: rule}`` mapping. Types are strict: ``true`` is not a number, ``1.5`` is not an
integer, ``"hot"`` is not a temperature, ``1e400`` and ``NaN`` are not finite numbers.

No torch, no RDKit: the CLI, the web service and the models all import it.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Callable, Iterable

from .errors import InputError


@dataclass(frozen=True)
class Rule:
    """What a value must be: ``test(value)`` and the same in words (``"an integer >= 1"``)."""

    test: Callable[[Any], bool]
    words: str

    def problem(self, name: str, value) -> list[str]:
        """``[]`` when ``value`` passes, else one line naming the setting, the rule and the value."""
        try:
            ok = bool(self.test(value))
        except (TypeError, ValueError, OverflowError):
            ok = False
        return [] if ok else [f"{name} must be {self.words}, not {value!r}"]


def is_number(value) -> bool:
    """A finite real number, Python's or NumPy's; not a bool (an int to Python), nor an integer beyond any float."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def is_integer(value) -> bool:
    """A whole number, Python's or NumPy's; not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _bounds(low, high, low_open: bool, high_open: bool) -> tuple[Callable[[Any], bool], str]:
    def inside(v) -> bool:
        return ((low is None or (v > low if low_open else v >= low))
                and (high is None or (v < high if high_open else v <= high)))

    if low is not None and high is not None:
        words = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    elif low is not None:
        words = f"{'>' if low_open else '>='} {low}"
    elif high is not None:
        words = f"{'<' if high_open else '<='} {high}"
    else:
        words = ""
    return inside, words


def integer(low: int | None = None, high: int | None = None) -> Rule:
    """A whole number (not a bool, not 2.0) in ``[low, high]``."""
    inside, words = _bounds(low, high, False, False)
    return Rule(lambda v: is_integer(v) and inside(v), f"an integer {words}".rstrip())


def number(low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False) -> Rule:
    """A finite real number (an integer is one too; not a bool) between ``low`` and ``high``; ``low_open`` /
    ``high_open`` exclude the bound itself."""
    inside, words = _bounds(low, high, low_open, high_open)
    return Rule(lambda v: is_number(v) and inside(v), f"a number {words}".rstrip())


def positive() -> Rule:
    """A finite number > 0."""
    return number(0, low_open=True)


def choice(values: Iterable) -> Rule:
    """One of ``values`` (compared with ``==``; a bool is never taken for 0/1)."""
    allowed = tuple(values)
    return Rule(lambda v: not isinstance(v, bool) and v in allowed, "one of " + " | ".join(map(str, allowed)))


def flag() -> Rule:
    """``true`` or ``false`` (Python's or NumPy's bool; not 0/1)."""
    return Rule(lambda v: isinstance(v, bool) or type(v).__name__ == "bool_", "true or false")


def text(pattern: str | None = None, words: str = "a non-empty string") -> Rule:
    """A non-empty string, matching ``pattern`` (whole) where given."""
    return Rule(lambda v: isinstance(v, str) and bool(v) and (pattern is None or re.fullmatch(pattern, v) is not None),
                words)


def optional(rule: Rule) -> Rule:
    """``rule``, or None (TOML has no null: the setting left out)."""
    return Rule(lambda v: v is None or rule.test(v), f"{rule.words} (or left unset)")


def list_of(rule: Rule, min_items: int = 0) -> Rule:
    """A list (or tuple) of at least ``min_items`` values, each passing ``rule``."""
    return Rule(lambda v: isinstance(v, (list, tuple)) and len(v) >= min_items and all(rule.test(x) for x in v),
                f"a list of {rule.words}" + (f" (at least {min_items})" if min_items else ""))


def any_of(*rules: Rule) -> Rule:
    """Passes when one of ``rules`` does."""
    return Rule(lambda v: any(r.test(v) for r in rules), " or ".join(r.words for r in rules))


# ------------------------------------------------------------------------------------------ dataclass configs
def setting(rule: Rule, default=dataclasses.MISSING, *, default_factory=dataclasses.MISSING):
    """A dataclass field with its rule: ``batch_size: int = setting(integer(1), 128)``."""
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata={"rule": rule})
    return dataclasses.field(default=default, metadata={"rule": rule})


def rules_of(cls_or_obj) -> dict[str, Rule]:
    """``{field name: rule}`` of a dataclass's fields declared with :func:`setting`."""
    return {f.name: f.metadata["rule"] for f in dataclasses.fields(cls_or_obj) if "rule" in f.metadata}


def problems(obj, skip: Iterable[str] = ()) -> list[str]:
    """Every field of the dataclass ``obj`` whose value breaks its rule (fields in ``skip`` left out)."""
    skipped = set(skip)
    return [p for name, rule in rules_of(obj).items() if name not in skipped
            for p in rule.problem(name, getattr(obj, name))]


# ------------------------------------------------------------------------------------------ tables of options
def table_problems(table: dict, rules: dict[str, Rule], where: str = "") -> list[str]:
    """Unknown keys (with the valid ones) and every value that breaks its rule, for a mapping of options such as a
    TOML table; ``where`` (e.g. ``"[design.reinvent] "``) prefixes each line."""
    if not isinstance(table, dict):
        return [f"{where}must be a table of settings, not {table!r}".strip()]
    unknown = sorted(set(table) - set(rules))
    found = [f"{where}unknown key(s) {', '.join(map(str, unknown))}; valid: {', '.join(rules)}"] if unknown else []
    return found + [f"{where}{p}" for key, value in table.items() if key in rules
                    for p in rules[key].problem(key, value)]


def refuse(found: list[str], what: str = "settings") -> None:
    """Raise one :class:`InputError` naming every problem (exit code 2); nothing when ``found`` is empty."""
    if found:
        raise InputError(f"bad {what}: " + "; ".join(found))


def check_table(table: dict, rules: dict[str, Rule], where: str, what: str = "settings") -> None:
    """:func:`table_problems` then :func:`refuse`."""
    refuse(table_problems(table, rules, where), what)
