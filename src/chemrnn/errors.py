"""Exceptions that the CLI turns into one-line messages with a fixed exit code.

Exit codes follow DESIGN.md: 0 success, 1 failure while running, 2 bad usage or bad input; 130 interrupted (Ctrl-C).
"""
from __future__ import annotations


class ChemrnnError(Exception):
    """A failure the user can act on; printed as one line, never as a traceback."""

    exit_code = 1


class Interrupted(ChemrnnError):
    """Ctrl-C: the message says what was kept; exit code 130 (128 + SIGINT, as a shell reports it)."""

    exit_code = 130


class CtrlC:
    """Ctrl-C during a training run: the SIGINT :meth:`handler` notes a first press inside Lightning's loop
    (``in_fit``) and raises nothing, the loop's callback (:class:`chemrnn.training.callbacks.CtrlCAtBatch`) then
    raises KeyboardInterrupt at the next batch boundary; a second press, or one outside the loop, raises at once.
    Class state, since a signal handler cannot reach the callback; :meth:`reset` clears it."""

    pressed = False
    in_fit = False

    @classmethod
    def reset(cls) -> None:
        cls.pressed = cls.in_fit = False

    @classmethod
    def handler(cls, signum, frame):
        first = not cls.pressed
        cls.pressed = True
        if not (first and cls.in_fit):
            raise KeyboardInterrupt


class InputError(ChemrnnError):
    """Bad input: a file that cannot be read, a missing column, an unknown dataset name."""

    exit_code = 2

    def __init__(self, message: str, path: object = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)
        self.reason = message
        self.path = path
        self.line = line


class UnknownTokenError(InputError):
    """Tokens that the vocabulary does not hold, listed all at once with a count and an example each."""

    def __init__(self, unknown: dict[str, int], examples: dict[str, str] | None = None, path: object = None):
        examples = examples or {}
        parts = []
        for tok, n in sorted(unknown.items(), key=lambda kv: -kv[1]):
            ex = f" e.g. in {examples[tok]!r}" if tok in examples else ""
            parts.append(f"{tok!r} x{n}{ex}")
        super().__init__(
            f"{len(unknown)} token(s) not in the vocabulary: " + ", ".join(parts[:20])
            + (" ..." if len(parts) > 20 else "")
            + " (use unknown='unk' / --unknown unk to map them to <unk>)",
            path=path,
        )
        self.unknown = unknown
