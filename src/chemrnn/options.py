"""The vocabularies of chemrnn's options, written once: the models, the training and design configs, the CLI's
choices and the web service all import them from here, so a value one of them accepts the others accept too
(``tests/unit/test_options.py`` ties each to the code that implements it).

No torch, no RDKit: a base-layer module the command line can import before any heavy dependency.
"""
from __future__ import annotations

CELLS = ("rnn", "lstm", "gru")  # chemrnn.cells: the lecture's three recurrent cells
IMPLS = ("fused", "lecture")  # PyTorch's kernels | the lecture's cells, step by step
GRU_FORMS = ("lecture", "pytorch")  # where the GRU's reset gate sits: before / after the recurrent product
TOKENIZERS = ("atom", "char", "selfies")  # chemrnn.tokens
POOLINGS = ("sum", "last", "mean", "attention")  # property models' read-out over the sequence
SPLITS = ("random", "scaffold")
LR_SCHEDULES = ("cosine", "plateau")  # property training
LM_PRESETS = ("segler2018", "cpu", "tiny")  # chemrnn.training.lm.PRESETS
PROPERTY_RECIPES = ("standard", "small")  # chemrnn.training.property.RECIPES
RECIPE_CHOICES = ("auto", *PROPERTY_RECIPES)  # auto: picked from the data
UNKNOWN_TOKENS = ("error", "unk")  # predict/embed: a molecule with a token the model does not know
FINETUNE_UNKNOWN = ("skip", "error", "extend")  # lm train/finetune: actives the prior cannot spell
LIBRARY_METHODS = ("beam", "swor", "sample")  # chemrnn.library
# every command and config: auto (a GPU where there is one) | cpu | gpu (cuda is the same); pick one GPU of many
# with CUDA_VISIBLE_DEVICES=N
DEVICES = ("auto", "cpu", "gpu", "cuda")
STRATEGIES = ("auto", "ddp")  # DDP only: every process runs the whole command (see training.checks.distributed)
# every precision spelling a config accepts → Lightning's name (``auto`` is resolved per machine)
PRECISIONS = {"auto": "auto", "32": "32-true", "32-true": "32-true", "bf16": "bf16-mixed",
              "bf16-mixed": "bf16-mixed", "16-mixed": "16-mixed"}
CLI_PRECISIONS = ("auto", "32", "bf16")  # the spellings the command line offers
OPTIMIZERS = ("reinvent", "hillclimb", "segler")  # chemrnn.design.optimizers
DIVERSITY_KINDS = ("scaffold", "generic", "identical", "none")  # chemrnn.design.diversity
QUALITY_PRESETS = ("default", "strict", "none")  # chemrnn.scoring.quality
DESIGN_PRESETS = ("default", "guacamol")  # chemrnn.design.config.PRESETS and chemrnn.design.guacamol.PRESETS
