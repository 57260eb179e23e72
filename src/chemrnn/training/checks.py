"""Checks shared by the training configs, run when a config is made: every bad value is refused at once, with the
valid ones, before any file is written or any data prepared (issue "nothing written on bad input"); and the
precision spellings (the CLI's ``auto | 32 | bf16`` and Lightning's own ``32-true | bf16-mixed``)."""
from __future__ import annotations

import math
from numbers import Integral, Real
from pathlib import Path

from ..errors import InputError

DEVICES = ("auto", "cpu", "gpu", "cuda")
# DDP only: each process runs the whole command (Lightning's launcher, torchrun or SLURM start them), so that the
# code after ``fit`` (last validation, model file on rank 0) runs in every process; spawn/fork strategies do not
STRATEGIES = ("auto", "ddp")
# every spelling a config accepts → Lightning's name (``auto`` is resolved per machine by resolve_precision)
PRECISIONS = {"auto": "auto", "32": "32-true", "32-true": "32-true", "bf16": "bf16-mixed",
              "bf16-mixed": "bf16-mixed", "16-mixed": "16-mixed"}


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


def choice(name: str, value, allowed) -> list[str]:
    """A problem if ``value`` is not one of ``allowed`` (the message lists them)."""
    return [] if value in allowed else [f"{name} must be one of {' | '.join(map(str, allowed))}, not {value!r}"]


def at_least(name: str, value, low, optional: bool = False) -> list[str]:
    """A problem if ``value`` is below ``low`` (``None`` passes when ``optional``)."""
    if value is None and optional:
        return []
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        return [f"{name} must be a number >= {low}, not {value!r}"]
    return []


def above(name: str, value, low, optional: bool = False) -> list[str]:
    """A problem if ``value`` is not strictly above ``low``."""
    if value is None and optional:
        return []
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low:
        return [f"{name} must be a number > {low}, not {value!r}"]
    return []


def fraction(name: str, value, top_open: bool = True) -> list[str]:
    """A problem unless ``0 <= value < 1`` (``<= 1`` when not ``top_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value and (
        value < 1 if top_open else value <= 1)
    return [] if ok else [f"{name} must be in [0, 1{')' if top_open else ']'}, not {value!r}"]


def refuse(problems: list[str], what: str) -> None:
    """Raise one :class:`InputError` naming every problem found (exit code 2)."""
    if problems:
        raise InputError(f"bad {what}: " + "; ".join(problems))


def network_and_run_problems(cfg) -> list[str]:
    """The checks every training config shares: cell, impl, tokenizer, device, precision and the DDP settings."""
    from ..cells import CELLS, IMPLS
    from ..tokens import TOKENIZERS

    return (choice("cell", cfg.cell, CELLS) + choice("impl", cfg.impl, IMPLS)
            + choice("tokenizer", cfg.tokenizer, tuple(TOKENIZERS)) + choice("device", cfg.device, DEVICES)
            + choice("precision", cfg.precision, tuple(PRECISIONS)) + choice("strategy", cfg.strategy, STRATEGIES)
            + at_least("devices", cfg.devices, 1, optional=True) + at_least("num_nodes", cfg.num_nodes, 1))


def resolve_precision(precision: str, device: str = "auto") -> str:
    """Lightning's precision for a config value: ``32`` → ``32-true``, ``bf16`` → ``bf16-mixed``; ``auto`` →
    ``bf16-mixed`` on a CPU with native bf16 (AVX-512 bf16 / AMX: about 2× faster), ``32-true`` on GPUs and on
    CPUs without it. The resolved value is what the run records."""
    refuse(choice("precision", precision, tuple(PRECISIONS)), "training option")
    if precision != "auto":
        return PRECISIONS[precision]
    import torch

    from ..utils import resolve_device

    if resolve_device(device) != "cpu":
        return "32-true"
    return "bf16-mixed" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "32-true"


def readable(path: Path, what: str) -> None:
    """Refuse a path that is not a readable file (:class:`InputError` naming it)."""
    if not path.exists():
        raise InputError(f"no such file ({what})", path)
    if not path.is_file():
        raise InputError(f"not a file ({what})", path)
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror})", path) from None


def distributed(cfg, accelerator: str) -> tuple:
    """Lightning's ``devices`` and ``strategy`` for a config with ``devices``, ``num_nodes`` and ``strategy``:
    ``devices`` None is one process on a CPU and every GPU otherwise (the former default); ``auto`` with more
    than one process is ``ddp`` (Lightning's own ``auto`` would pick ``ddp_fork`` or ``ddp_spawn`` in some
    environments, which do not run the code after ``fit`` in every process)."""
    devices = cfg.devices if cfg.devices else ("auto" if accelerator != "cpu" else 1)
    many = devices == "auto" or devices * cfg.num_nodes > 1
    strategy = "ddp" if cfg.strategy == "auto" and many and devices != "auto" else cfg.strategy
    return devices, strategy
