"""The Python API: every CLI command is one call here (DESIGN.md, layer 5), implemented in the module of its
concern (sampling in ``sample``, evaluation and recovery in ``evaluation``, libraries in ``library``, decoration in
``decorate``, activity models in ``scoring.activity`` …) and re-exported, or a few lines that call one.

Models are named the same way everywhere: a path, or a shipped model's name (``shipped`` = ``moses``, and ``chembl``,
for language models; ``shipped``, ``zinc`` for property models).
"""
from __future__ import annotations

from pathlib import Path

from .datasets import canonical_cache as _canonical_cache, canonical_set, shipped_model  # noqa: F401
from .errors import InputError
from .io import check_writable
# the API's calls, each implemented in the module of its concern (re-exported here)
from .decorate import decorate_smiles  # noqa: F401
from .evaluation import (Generator, demo, evaluate_samples, predicted_properties, read_heldout,  # noqa: F401
                         read_samples, recovery, reference_draw, temperature_sweep, training_set, write_evaluation)
from .library import make_library as library, score_file as score  # noqa: F401
from .models.language import load_lm  # noqa: F401
from .models.modelfile import own_training_source, training_sources  # noqa: F401
from .predict import (PropertyPredictor, embed_file, embed_smiles, evaluate_property_model as evaluate_property,  # noqa: F401
                      input_rows, predict_file, predict_smiles, with_unit)
from .prepare import PrepareOptions, default_rejects_path, prepare, summary_path  # noqa: F401
from .sample import SAMPLED_COLUMNS, sample_smiles, sampled_table, write_sampled  # noqa: F401
from .scoring.activity import activity_rejects_path, train_activity  # noqa: F401
from .scoring.quality import quality_flags, write_flagged  # noqa: F401


def shipped_prior() -> Path:
    """The language model shipped inside the package (trained on MOSES train)."""
    return shipped_model("shipped", "language")


def shipped_property_model() -> Path:
    """The logP/TPSA regressor shipped inside the package (trained on ZINC250k); ``shipped`` names it on the CLI."""
    return shipped_model("shipped", "property")


def sample_shards(model, n: int, shards: int, out_dir, *, temperature: float = 1.0, batch_size: int = 1024,
                  max_length: int = 140, seed: int = 0, device: str = "cpu", impl: str = "fused",
                  progress=None, known: set | None = None) -> dict:
    """``chemrnn lm sample --shards``: sampling at scale into a folder of de-duplicated shards that a rerun resumes
    (:func:`chemrnn.sample.sample_shards`). Returns the counts: drawn, valid, written, shards, seconds."""
    from .sample import sample_shards as shards_of

    if shards < 1 or n < shards:
        raise InputError(f"--shards must be between 1 and -n ({n:,}), not {shards}")
    return shards_of(load_lm(model, impl=impl, device=device), n, shards, out_dir, model_name=str(model),
                     temperature=temperature, batch_size=batch_size, max_length=max_length, seed=seed,
                     device=device, progress=progress, known=known)


# ------------------------------------------------------------------------------------------ design
def design(config, output, restart: bool = False, progress=None) -> dict:
    """``chemrnn design run``: a design run from a TOML config (see examples/), resumable; returns its summary."""
    from .design import run_design

    return run_design(config, output, restart=restart, progress=progress)


def predict_activity(model, smiles: list[str]):
    """p(active) per SMILES (NaN where invalid) from an activity model file."""
    from .scoring.activity import ActivityModel

    return ActivityModel.load(model).predict(smiles)


def goal_directed_generator(**options):
    """A GuacaMol-style ``GoalDirectedGenerator`` (``generate_optimized_molecules``); see
    :class:`chemrnn.design.GoalDirectedGenerator` for the options (optimizer, prior, budget …)."""
    from .design import GoalDirectedGenerator

    return GoalDirectedGenerator(**options)


def finetune(prior, actives, output, restart: bool = False, verbose: bool = True, **options) -> dict:
    """``chemrnn lm finetune``: transfer learning (Segler et al. 2018) of ``prior`` on ``actives`` into the run
    directory ``output`` (the model is ``output/model``); rerun to resume. ``options``: ``epochs``, ``batch_size``,
    ``lr``, ``val_size``, ``unknown``, ``seed``, ``device`` or any training setting (see
    :func:`chemrnn.training.lm.finetune_config`). Returns the final metrics (steps, epochs, train_size …)."""
    from .training import finetune_config, train_language_model

    return train_language_model(finetune_config(prior, actives, **options), output, restart=restart,
                                verbose=verbose)


# ------------------------------------------------------------------------------------------ training
def lm_config(preset: str | None = None, **settings):
    """The settings of ``chemrnn lm train`` checked: a :class:`~chemrnn.training.LMTrainConfig` from a preset
    (``segler2018``, ``cpu``, ``tiny``) and the settings given (None: the preset's value). Every bad value is refused
    at once (:class:`~chemrnn.errors.InputError`)."""
    from .training import LMTrainConfig

    return LMTrainConfig.from_preset(preset, **settings)


def train_lm(config, output, *, restart: bool = False, verbose: bool = True) -> dict:
    """``chemrnn lm train``: train a language model (``config``: :func:`lm_config`) into the run directory
    ``output``; rerun to resume. Returns the final metrics."""
    from .training import train_language_model

    return train_language_model(config, output, restart=restart, verbose=verbose)


def property_config(**settings):
    """The settings of ``chemrnn property train`` checked: a :class:`~chemrnn.training.PropertyTrainConfig`."""
    from .training import PropertyTrainConfig

    return PropertyTrainConfig(**settings)


def train_property(config, output, *, verbose: bool = True) -> dict:
    """``chemrnn property train``: train a property model (``config``: :func:`property_config`) into ``output``.
    Returns the test (or cross-validated) metrics per target, with the run's facts under ``_run``."""
    from .training import train_property_model

    return train_property_model(config, output, verbose=verbose)


def is_launched_rank() -> bool:
    """True in a process a DDP launcher started for a rank other than 0 (it trains, rank 0 reports)."""
    from .training.lock import is_launched_rank as launched

    return launched()


# ------------------------------------------------------------------------------------------ data
def prepare_data(input, output, options=None, rejects=None, *, progress=None):
    """``chemrnn data prepare``: canonicalize, filter and de-duplicate a SMILES file (:mod:`chemrnn.prepare`);
    every rejected row goes to ``rejects`` with its line and reason. ``progress(message, done, total)``."""
    return prepare(input, output, options or PrepareOptions(), rejects, progress=progress)


def data_stats(input, *, column: str | None = None, tokenizer: str = "atom", validate: bool = False,
               limit: int | None = None, on_bad_line: str = "error", progress=None):
    """``chemrnn data stats``: counts, token lengths and token frequencies of a SMILES file."""
    from .prepare import data_stats as stats

    return stats(input, column=column, tokenizer=tokenizer, validate=validate, limit=limit, on_bad_line=on_bad_line,
                 progress=progress)


def encode_data(input, output, *, column: str | None = None, tokenizer: str = "atom", vocabulary=None,
                unknown: str = "error", batch_size: int = 128, seed: int = 0, skip_bad_lines: bool = False,
                progress=None) -> dict:
    """``chemrnn data encode``: tokenize and encode a SMILES file into a training cache (``output``, .npz) and
    measure the padding of batches with and without length buckets (:func:`chemrnn.batching.encode_file`)."""
    from .batching import encode_file

    return encode_file(input, output, column=column, tokenizer=tokenizer, vocabulary=vocabulary, unknown=unknown,
                       batch_size=batch_size, seed=seed, skip_bad_lines=skip_bad_lines, progress=progress)


def derive_dataset(name: str, sources=None, output=None, *, download: bool = True, jobs: int = 0, progress=None):
    """``chemrnn datasets derive``: build a derived dataset from its public sources (:mod:`chemrnn.derive`);
    ``sources``: ``KEY=PATH_OR_URL`` strings. Returns the result (path, rows, whether it matches the registry)."""
    from . import derive as dv

    given = dv.parse_sources(name, sources)
    if output is not None:
        check_writable(output, "file")
    return dv.derive(name, given, output, download=download, jobs=jobs, say=progress or (lambda *a, **k: None))


def describe_counts(counts: dict) -> str:
    """An actives file's row counts in words (actives, repeats, rejected by reason)."""
    from .scoring.activity import describe_counts as describe

    return describe(counts)


# ------------------------------------------------------------------------------------------ the lecture
def lecture_hello(output=None, *, cell: str = "rnn", hidden: int = 8, steps: int = 300, impl: str = "lecture",
                  gru_form: str | None = None, seed: int = 0):
    """``chemrnn lecture hello``: the char-level "hello" language model (:func:`chemrnn.lecture.run_hello`); a GRU
    form the implementation does not have is a ``ValueError``."""
    from .lecture import resolve_gru_form, run_hello

    return run_hello(output, cell, hidden, steps, impl, resolve_gru_form(gru_form, impl), seed)


def lecture_params(input_size: int = 32, hidden_size: int = 256, num_layers: int = 1) -> list[dict]:
    """``chemrnn lecture params``: parameter counts of the three cells, formula against PyTorch."""
    from .lecture import parameter_table

    return parameter_table(input_size, hidden_size, num_layers)


def lecture_gradients(output, **settings) -> dict:
    """``chemrnn lecture gradients``: BPTT's vanishing and exploding gradients, and clipping."""
    from .lecture import run_gradients

    return run_gradients(output, **settings)


def lecture_long_range(output, **settings) -> tuple[dict, list[dict]]:
    """``chemrnn lecture long-range``: closing a ring or branch over a span, by cell; the results and their table
    rows."""
    from .lecture import long_range_table, run_long_range

    results = run_long_range(output, **settings)
    return results, long_range_table(results)
