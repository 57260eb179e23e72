"""Training on Lightning for both model families: language models (:mod:`.lm`) and property models
(:mod:`.property`). Importing :mod:`chemrnn` does not import Lightning; these modules do."""
from __future__ import annotations

import os


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


from .lm import LMTrainConfig, PRESETS, train_language_model  # noqa: E402
from .property import PropertyTrainConfig, train_property_model  # noqa: E402

__all__ = ["LMTrainConfig", "PRESETS", "PropertyTrainConfig", "quiet_lightning", "train_language_model",
           "train_property_model"]
