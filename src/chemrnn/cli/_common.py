"""What every command group shares: the consoles (data to stdout, messages to stderr), the global flags and
the reader of input rows."""
from __future__ import annotations

from rich.console import Console

console = Console()
err_console = Console(stderr=True)
state = {"debug": False, "quiet": False}


def say(*args, **kwargs):
    """A message for the user (not data): printed unless ``--quiet``."""
    if not state["quiet"]:
        console.print(*args, **kwargs)


def input_rows(input: str, column: str | None):
    """Every row of an input file (or dataset), bad lines included, so outputs line up with inputs."""
    from ..datasets import resolve_input, smiles_column
    from ..io import read_rows

    return list(read_rows(resolve_input(input), column=column or smiles_column(input), on_bad_line="skip"))
