"""Small shared helpers of the base layer: seeding, device choice, a worker pool and figure saving.

Nothing here knows about chemistry, models or training; every layer above may use it.
"""
from __future__ import annotations

import io as _io
import os
from multiprocessing import get_context

import numpy as np

from .errors import InputError
from .io import atomic_write


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (every run records its seed)."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(device: str) -> str:
    """``auto`` → ``gpu`` when CUDA is available, else ``cpu``; ``cuda`` is an alias of ``gpu`` (Lightning's
    accelerator names)."""
    import torch

    if device == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return {"cuda": "gpu"}.get(device, device)


def torch_device(device: str) -> str:
    """The torch device string for a ``--device`` value (``auto``/``gpu``/``cuda`` → ``cuda`` where present;
    an explicit ``cuda:N`` stays as it is)."""
    if device.startswith("cuda:"):
        return device
    return "cuda" if resolve_device(device) == "gpu" else "cpu"


def pool_map(func, items: list, jobs: int = 0, chunk: int = 500):
    """``func`` over chunks of ``items`` in ``jobs`` forked worker processes (in order); inline when small.

    ``func`` takes a list and returns a list of the same length. ``jobs`` 0 means all cores.
    """
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(items) < 2 * chunk:
        return func(items)
    chunks = [items[i: i + chunk] for i in range(0, len(items), chunk)]
    with get_context("fork").Pool(jobs) as pool:
        out = []
        for part in pool.imap(func, chunks):
            out += part
    return out


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_fig(fig, path, dpi: int = 110) -> None:
    """Write a matplotlib figure as PNG atomically and close it."""
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot().close(fig)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())


def inference_precision(precision: str = "auto"):
    """Autocast context for CPU inference: ``bf16`` (bfloat16 matmuls, float32 where the model asks for it),
    ``32``, or ``auto``: bf16 where the CPU has native bf16 (AVX-512 bf16 / AMX), where it is ~2× faster and moves
    property predictions by about 1e-3 logP units; float32 elsewhere."""
    import contextlib

    import torch

    if precision not in ("auto", "32", "bf16"):
        raise InputError(f"precision must be auto, 32 or bf16, not {precision!r}")
    if precision == "auto":
        precision = "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "32"
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ------------------------------------------------------------------ progress
def reporter(progress):
    """The API's progress protocol, ``progress(message, done=None, total=None)`` (a new message starts a new step),
    for a callback of any arity: one that takes only a message hears each step once. A callback with a ``note``
    method also hears, at once, the lines :func:`note` sends (before a slow one-time step)."""
    if progress is None:
        return lambda message, done=None, total=None: None
    import inspect

    try:
        params = inspect.signature(progress).parameters.values()
        full = len(params) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in params)
    except (TypeError, ValueError):
        full = True
    if full:
        return progress
    last = []

    def steps_only(message, done=None, total=None):
        if not last or last[-1] != message:
            last.append(message)
            progress(message)

    return steps_only


def note(say, message: str, step: bool = True) -> None:
    """A line to show at once (what a slow step is about to do, what it left behind): through the progress
    callback's ``note`` where it has one (the CLI's :class:`~chemrnn.cli._common.Steps`); else, with ``step``, as
    a step of its own, and not at all without."""
    note = getattr(say, "note", None)
    if note is not None:
        note(message)
    elif step:
        say(message)
