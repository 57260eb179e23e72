"""Training on Lightning for both model families: language models (:mod:`.lm`, with its data in :mod:`.data`) and
property models (:mod:`.property`); shared callbacks (:mod:`.callbacks`), config checks (:mod:`.checks`), the
run-directory lock (:mod:`.lock`) and messages with a quiet Lightning (:mod:`._log`). Importing :mod:`chemrnn` does
not import Lightning; these modules do."""
from __future__ import annotations

from ._log import quiet_lightning, say, warn
from .lm import PRESETS, LMModule, LMTrainConfig, finetune_config, train_language_model
from .property import PropertyModule, PropertyTrainConfig, train_property_model

__all__ = ["LMModule", "LMTrainConfig", "PRESETS", "PropertyModule", "PropertyTrainConfig", "finetune_config",
           "quiet_lightning", "say", "train_language_model", "train_property_model", "warn"]
