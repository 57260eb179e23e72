"""The local web page (``chemrnn serve``): predict, generate, watch the RNN, runs and fine-tunes, in a browser.

Everything is served from the installed package (the page, its script and style, the bundled molecule editor
OpenChemLib JS); nothing is fetched from elsewhere. :func:`create_app` returns the Starlette application (tests use
it through Starlette's test client), :func:`serve` runs it with uvicorn.
"""
from __future__ import annotations

from .app import LIMITS, create_app, serve  # noqa: F401
