"""What training says and how quietly: progress messages, warnings, and Lightning imported without its banners.
Every training module imports these from here, so that none imports the package that imports it."""
from __future__ import annotations

import os
import sys


def quiet_lightning():
    """Import Lightning with its banners, tips and moot warnings silenced; returns the ``lightning`` module."""
    import logging
    import warnings

    import lightning as L

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)  # no "GPU available: False" banners
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # our batch sampler restarts part-way into the epoch by itself (ResumableBuckets), so this warning is moot
    warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch ended.*")
    os.environ.setdefault("LIGHTNING_DISABLE_TIPS", "1")
    return L


def say(message: str, verbose: bool = True, err: bool = False) -> None:
    """A progress message on stdout (``err``: on stderr, with the CLI's other messages), unless ``verbose`` is off
    (the CLI's ``--quiet``)."""
    if verbose:
        print(message, file=sys.stderr if err else sys.stdout, flush=True)


def warn(message: str) -> None:
    """Something the user should know about the run's settings, on stderr (shown even with ``--quiet``)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
