"""Training on Lightning for both model families: language models (:mod:`.lm`, with its data in :mod:`.data`) and
property models (:mod:`.property`); shared callbacks (:mod:`.callbacks`), config checks (:mod:`.checks`) and the
run-directory lock (:mod:`.lock`). Importing :mod:`chemrnn` does not import Lightning; these modules do."""
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


from .lm import PRESETS, LMModule, LMTrainConfig, finetune_config, train_language_model  # noqa: E402
from .property import PropertyModule, PropertyTrainConfig, train_property_model  # noqa: E402

__all__ = ["LMModule", "LMTrainConfig", "PRESETS", "PropertyModule", "PropertyTrainConfig", "finetune_config",
           "quiet_lightning", "say", "train_language_model", "train_property_model", "warn"]
