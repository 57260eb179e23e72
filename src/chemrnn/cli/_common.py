"""What every command group shares: the consoles (data to stdout, messages to stderr), the global flags and
the reader of input rows."""
from __future__ import annotations

import sys

from rich.console import Console


def _console(stderr: bool) -> Console:
    """A console that wraps only on a terminal: piped output keeps whole lines and paths. (The stream is looked up
    at each print, so redirections made later, e.g. by tests, are followed.)"""
    tty = (sys.stderr if stderr else sys.stdout).isatty()
    return Console(stderr=stderr, soft_wrap=not tty, width=None if tty else 10_000)


console = _console(False)  # data: tables and values that ARE the requested result
err_console = _console(True)  # messages: summaries, progress, errors
state = {"debug": False, "quiet": False}


def say(*args, **kwargs):
    """A message for the user (not data), on stderr: printed unless ``--quiet``."""
    if not state["quiet"]:
        kwargs.setdefault("highlight", False)
        err_console.print(*args, **kwargs)


def input_rows(input: str, column: str | None):
    """Every row of an input file (or dataset), bad lines included, so outputs line up with inputs."""
    from ..datasets import resolve_input, smiles_column
    from ..io import read_rows

    return list(read_rows(resolve_input(input), column=column or smiles_column(input), on_bad_line="skip"))
