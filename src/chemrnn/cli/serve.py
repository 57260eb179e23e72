"""``chemrnn serve``: the local web page (predict, generate, watch the RNN, runs and fine-tunes)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..errors import InputError
from ._common import say


def serve(
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on; the default, 127.0.0.1, is reachable from this machine "
                                  "only (the page has no login)."),
    runs: Path = typer.Option(Path("runs"), "--runs",
                              help="Folder of run directories: listed on the page, and where fine-tunes started "
                                   "from the page are written (the page reads and writes no other path)."),
):
    """Serve the local web page: paste or draw molecules and predict logP/TPSA, sample from a prior, watch the
    RNN's softmax and gates, follow runs and start fine-tunes. Works offline; Ctrl-C stops it."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise InputError("the web page needs starlette and uvicorn: pip install 'chemrnn[web]'") from None
    if runs.exists() and not runs.is_dir():
        raise InputError("--runs must be a folder", runs)
    from ..web import serve as run_server

    run_server(host, port, runs, say=lambda m: say(escape(m)))
