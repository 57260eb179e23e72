"""The Python API: every CLI command is one call here (DESIGN.md, layer 5).

Models are named the same way everywhere: a path, or a shipped model's name (``shipped``, ``moses`` for language
models; ``shipped``, ``zinc`` for property models).
"""
from __future__ import annotations

import time
from pathlib import Path

from . import chem
from .errors import InputError  # noqa: F401
from .predict import PropertyPredictor, embed_smiles, predict_smiles  # noqa: F401  (the property API)


def shipped_prior() -> Path:
    """The language model shipped inside the package (trained on MOSES train)."""
    from .datasets import shipped_model

    return shipped_model("shipped", "language")


def shipped_property_model() -> Path:
    """The logP/TPSA regressor shipped inside the package (trained on ZINC250k); ``shipped`` names it on the CLI."""
    from .datasets import shipped_model

    return shipped_model("shipped", "property")


def load_lm(model=None, impl: str = "fused", device: str = "cpu"):
    from .models.language import load_language_model
    from .tokens import get_tokenizer

    m, vocab, tok_name, meta = load_language_model(model, impl=impl, device=device)
    return m, vocab, get_tokenizer(tok_name), meta


def sample_smiles(model=None, n: int = 1000, temperature: float = 1.0, batch_size: int = 1024,
                  max_length: int = 140, seed: int = 0, device: str = "cpu", valid_only: bool = False,
                  unique_only: bool = False, progress=None, impl: str = "fused") -> dict:
    """Sample ``n`` strings; return them with validity/uniqueness counts and the strings to write."""
    from .sample import sample

    m, vocab, tok, _ = load_lm(model, impl=impl, device=device)
    t0 = time.perf_counter()
    s = sample(m, vocab, tok, n, temperature, batch_size, max_length, seed, device, progress)
    seconds = time.perf_counter() - t0
    canon = [chem.canonical_or_none(x) for x in s.smiles]
    valid = [c for c in canon if c is not None]
    written, seen = [], set()
    for raw, c in zip(s.smiles, canon):
        if valid_only or unique_only:
            if c is None:
                continue
            if unique_only and c in seen:
                continue
            seen.add(c)
            written.append(c)
        else:
            written.append(raw)
    return {"samples": s, "written": written, "valid": len(valid), "unique": len(set(valid)),
            "unfinished": int((~s.finished).sum()), "seconds": seconds}


class Generator:
    """A GuacaMol-style distribution-learning generator: ``generate(number_samples) -> list[str]``.

    Works without guacamol installed (duck typing); wrap it in ``DistributionMatchingGenerator`` if you like.
    """

    def __init__(self, model=None, temperature: float = 1.0, seed: int = 0, device: str = "cpu"):
        self.model, self.temperature, self.seed, self.device = model, temperature, seed, device
        self._calls = 0

    def generate(self, number_samples: int) -> list[str]:
        res = sample_smiles(self.model, number_samples, self.temperature, seed=self.seed + self._calls,
                            device=self.device)
        self._calls += 1
        return res["written"]


# ------------------------------------------------------------------------------------- evaluation
def canonical_set(source, jobs: int = 0) -> set[str]:
    """Canonical SMILES of a training file or dataset name, cached by the file's SHA-256."""
    import gzip

    from .chem import canonical_all
    from .datasets import resolve_input, smiles_column
    from .io import atomic_write, load_smiles_list

    path = resolve_input(source)
    cached = _canonical_cache(path)
    if cached.exists():
        with gzip.open(cached, "rt") as fh:
            return set(fh.read().split())
    canon = {c for c in canonical_all(load_smiles_list(path, smiles_column(source)), jobs) if c}
    with atomic_write(cached) as fh:
        fh.write("\n".join(sorted(canon)) + "\n")
    return canon


def reference_draw(source, n: int, seed: int = 0) -> list[str]:
    """A random draw of ``n`` valid canonical SMILES from a file or dataset (test files are ordered)."""
    import random

    from .io import load_smiles_list
    from .datasets import resolve_input, smiles_column
    from .chem import canonical_all

    smiles = load_smiles_list(resolve_input(source), smiles_column(source))
    rng = random.Random(seed)
    draw = rng.sample(smiles, min(n, len(smiles)))
    return [c for c in canonical_all(draw) if c]


def read_samples(path) -> list[str]:
    """Sampled strings, one per line; blank lines are empty (invalid) samples, kept in the count."""
    from .io import read_rows

    return [r.smiles for r in read_rows(path, on_bad_line="skip")]


def evaluate_samples(samples, test, train=None, n_ref: int = 10000, fcd: bool = True, seed: int = 0,
                     output=None, title: str = "chemrnn samples") -> dict:
    """MOSES/GuacaMol metrics of sampled strings against a test set (and novelty against ``train``)."""
    from . import metrics as M
    from .report import write_report
    from .runinfo import hardware, versions, write_json

    generated = read_samples(samples) if not isinstance(samples, list) else samples
    ref_smiles = reference_draw(test, n_ref, seed)
    ref = M.reference(ref_smiles, name=str(test), fcd=fcd)
    train_set = canonical_set(train) if train else None
    res = M.evaluate(generated, ref, train_set, fcd=fcd)
    feats = res.pop("_features", None)
    res["reference"] = {"test": str(test), "n_ref": len(ref_smiles), "seed": seed,
                        "train": str(train) if train else None}
    if output:
        from pathlib import Path

        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "metrics.json", {**res, "versions": versions(), "hardware": hardware()})
        write_report(out / "report.html", title, res,
                     feats.descriptors if feats is not None else None, ref.features.descriptors,
                     feats.smiles if feats is not None else None,
                     {"samples": str(samples if not isinstance(samples, list) else f"{len(samples)} in memory")})
    return res


def predicted_properties(smiles: list[str], model=None) -> dict:
    """logP/TPSA of valid molecules by a property model (default: the shipped one) beside RDKit's values.

    Returns ``{"smiles", "<target>_model", "<target>_rdkit" ..., "MAE": {target: mae}}``; invalid strings are left out.
    """
    import numpy as np


    pred, reasons, targets = predict_smiles(model or shipped_property_model(), smiles)
    keep = [i for i, why in enumerate(reasons) if not why]
    valid, pred = [smiles[i] for i in keep], pred[keep]
    rdkit = [chem.descriptors(s) for s in valid]
    out: dict = {"smiles": valid, "MAE": {}}
    for k, t in enumerate(targets):
        truth = np.array([d.get(t, np.nan) for d in rdkit], dtype=float)
        out[f"{t}_model"], out[f"{t}_rdkit"] = pred[:, k], truth
        ok = np.isfinite(truth)
        out["MAE"][t] = float(np.abs(pred[ok, k] - truth[ok]).mean()) if ok.any() else float("nan")
    return out


def recovery(model, heldout, n: int = 100_000, temperature: float = 1.0, seed: int = 0, batch_size: int = 1024,
             progress=None) -> dict:
    """Fraction of held-out actives that appear among ``n`` sampled molecules (canonical match; Segler 2018)."""
    from .io import load_smiles_list
    from .datasets import resolve_input, smiles_column
    from .chem import canonical_all

    targets = {c for c in canonical_all(load_smiles_list(resolve_input(heldout), smiles_column(heldout))) if c}
    res = sample_smiles(model, n, temperature, batch_size=batch_size, seed=seed, progress=progress)
    sampled = set(canonical_all(res["written"])) - {None}
    found = targets & sampled
    return {"heldout": len(targets), "recovered": len(found), "fraction": len(found) / len(targets) if targets else 0.0,
            "sampled": n, "valid": res["valid"], "unique_valid": len(sampled), "examples": sorted(found)[:10],
            "seconds": res["seconds"]}


# ------------------------------------------------------------------------------------------ design
def design(config, output, restart: bool = False, progress=None) -> dict:
    """``chemrnn design run``: a design run from a TOML config (see examples/), resumable; returns its summary."""
    from .design import run_design

    return run_design(config, output, restart=restart, progress=progress)


def train_activity(actives, output, decoys="chembl", decoy_ratio: float = 5.0, trees: int = 200, folds: int = 5,
                   seed: int = 0, progress=None) -> dict:
    """``chemrnn activity train``: a target-activity model (actives vs decoys), saved to ``output``; its CV metrics."""
    from .datasets import resolve_input, smiles_column
    from .io import load_smiles_list, sha256_of
    from .scoring.activity import ActivityConfig, train_activity_model

    sources = {}
    lists = []
    for name, src in (("actives", actives), ("decoys", decoys)):
        path = resolve_input(src)
        lists.append(load_smiles_list(path, smiles_column(src)))
        sources[name] = {"source": str(src), "path": str(path), "sha256": sha256_of(path)}
    cfg = ActivityConfig(n_trees=trees, decoy_ratio=decoy_ratio, folds=folds, seed=seed)
    model, metrics = train_activity_model(lists[0], lists[1], cfg, source=sources, progress=progress)
    model.save(output)
    return metrics


def predict_activity(model, smiles: list[str]):
    """p(active) per SMILES (NaN where invalid) from an activity model file."""
    from .scoring.activity import ActivityModel

    return ActivityModel.load(model).predict(smiles)


def goal_directed_generator(**options):
    """A GuacaMol-style ``GoalDirectedGenerator`` (``generate_optimized_molecules``); see
    :class:`chemrnn.design.GoalDirectedGenerator` for the options (optimizer, prior, budget …)."""
    from .design import GoalDirectedGenerator

    return GoalDirectedGenerator(**options)


def finetune(prior, actives, output, restart: bool = False, progress: bool = True, **options) -> dict:
    """``chemrnn lm finetune``: transfer learning (Segler et al. 2018) of ``prior`` on ``actives`` into the run
    directory ``output`` (the model is ``output/model``); rerun to resume. ``options``: ``epochs``, ``batch_size``,
    ``lr``, ``val_size``, ``unknown``, ``seed``, ``device`` or any training setting (see
    :func:`chemrnn.training.lm.finetune_config`). Returns the final metrics (steps, epochs, train_size …)."""
    from .training import finetune_config, train_language_model

    return train_language_model(finetune_config(prior, actives, **options), output, restart=restart,
                                progress=progress)


# ------------------------------------------------------------------------------------------ main job
def demo(output, model=None, n: int = 2000, fcd: bool = True, train: str | None = None, seed: int = 0,
         progress=None) -> dict:
    """The main job (``chemrnn demo``): sample ``n`` molecules from a language model (the shipped prior by default),
    score them against 5,000 shipped MOSES test molecules (and novelty against ``train``: default MOSES train when
    it is here, ``"none"`` to skip), write ``report.html``, and predict the valid samples' logP/TPSA with the shipped
    property model beside RDKit's values (``properties.csv``). ``progress(message)`` hears of each step."""
    import pandas as pd

    from . import datasets as ds
    from .io import atomic_write, write_smiles
    from .runinfo import record

    say = progress or (lambda msg: None)
    output = Path(output)
    model_path = str(ds.resolve_model(model, "language"))
    record(output, {"model": model_path, "n": n, "seed": seed, "fcd": fcd, "reference": "moses:test_sample"})
    say(f"sampling {n:,} molecules from {model_path}")
    res = sample_smiles(model_path, n, seed=seed)
    write_smiles(output / "samples.smi", res["written"])
    if train is None:
        train = "moses" if ds.locate("moses") else None
    elif train == "none":
        train = None
    if train:
        cached = _canonical_cache(train)
        say(f"novelty against {train}: " + ("canonical set cached" if cached.exists() else
                                           "canonicalizing it once (about 3 minutes for MOSES train on 2 cores; "
                                           f"cached in {cached.parent}); --train none skips novelty"))
    say("scoring: validity, uniqueness" + (", FCD (ChemNet)" if fcd else "") + ", SNN, Frag, Scaf, IntDiv, KL")
    m = evaluate_samples(res["written"], "moses:test_sample", train, n_ref=5000, fcd=fcd, seed=seed,
                         output=output, title=f"chemrnn demo: {n:,} molecules from {Path(model_path).name}")
    say("predicting logP and TPSA of the valid samples with the shipped property model")
    props = predicted_properties(res["written"])
    with atomic_write(output / "properties.csv") as fh:
        pd.DataFrame({k: v for k, v in props.items() if k != "MAE"}).to_csv(fh, index=False, float_format="%.4g")
    return {"model": model_path, "metrics": m, "sampling_seconds": res["seconds"], "n": n,
            "property_MAE": props["MAE"], "train": train}


def _canonical_cache(source) -> Path:
    """Where :func:`canonical_set` caches the canonical SMILES of a training set."""
    from .datasets import cache_dir, resolve_input, sha256_of

    return cache_dir() / "canonical" / f"{sha256_of(resolve_input(source))[:24]}.smi.gz"
