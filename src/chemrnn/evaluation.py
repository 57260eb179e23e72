"""Evaluation of what a language model makes (the use layer): MOSES/GuacaMol metrics of samples against a
reference draw (``lm evaluate``, ``lm sweep``), the held-out actives a model's samples regenerate (``lm recovery``;
Segler et al. 2018), a GuacaMol-style distribution-learning generator, and the main job (``chemrnn demo``), which
samples, evaluates and predicts properties in one report."""
from __future__ import annotations

import time
from pathlib import Path

from . import chem
from .datasets import canonical_set, resolve_input, shipped_model, smiles_column
from .errors import InputError
from .io import atomic_write, BadLineError, check_writable, load_smiles_list, read_rows, write_smiles
from .models.modelfile import training_sources
from .runinfo import hardware, record, versions, write_json
from .sample import sample_smiles
from .utils import note as _note, reporter as _reporter


class Generator:
    """A GuacaMol-style distribution-learning generator: ``generate(number_samples) -> list[str]``.

    Works without guacamol installed (duck typing); wrap it in ``DistributionMatchingGenerator`` if you like.
    """

    def __init__(self, model=None, temperature: float = 1.0, seed: int = 0, device: str = "cpu"):
        self.model, self.temperature, self.seed, self.device = model, temperature, seed, device
        self._calls = 0

    def generate(self, number_samples: int) -> list[str]:
        res = sample_smiles(self.model, number_samples, temperature=self.temperature, seed=self.seed + self._calls,
                            device=self.device)
        self._calls += 1
        return res["written"]


def reference_draw(source, n: int, seed: int = 0) -> list[str]:
    """A random draw of ``n`` valid canonical SMILES from a file or dataset (test files are ordered)."""
    import random

    from .chem import canonical_all

    try:
        smiles = load_smiles_list(resolve_input(source), smiles_column(source))
    except BadLineError as exc:  # a reference is read whole: no --skip-bad-lines (that one is for samples) applies
        raise InputError(exc.reason, exc.path, exc.line) from None
    rng = random.Random(seed)
    draw = rng.sample(smiles, min(n, len(smiles)))
    out = [c for c in canonical_all(draw) if c]
    if not out:
        raise InputError(f"no valid molecule in the reference set ({len(smiles):,} SMILES read"
                         + (f", none of the {len(draw):,} drawn valid)" if smiles else ")"), resolve_input(source))
    return out


def read_samples(path) -> list[str]:
    """Sampled strings, one per line; blank lines are empty (invalid) samples, kept in the count."""
    return [r.smiles for r in read_rows(path, on_bad_line="skip")]


def evaluate_samples(samples, test, *, train=None, n_ref: int = 10000, fcd: bool = True, seed: int = 0,
                     output=None, title: str = "chemrnn samples", progress=None, model=None,
                     properties: dict | None = None) -> dict:
    """MOSES/GuacaMol metrics of sampled strings (a file, one per line, or a list) against a test set (and novelty
    against ``train``). With ``output`` (a folder), writes ``metrics.json`` and ``report.html`` (metrics beside the
    MOSES anchors, descriptor distributions, the molecules drawn with their SMILES; ``model`` names the model in it,
    ``properties`` adds :func:`predicted_properties`). Samples with no non-blank string are refused. ``progress``
    hears of each step (``progress(message, done=None, total=None)``)."""

    say = _reporter(progress)
    if output:
        check_writable(output, "dir")
    generated = read_samples(samples) if not isinstance(samples, list) else samples
    res, feats, ref, train_set = _evaluate(generated, test, train, n_ref, fcd, seed, say,
                                           samples if not isinstance(samples, list) else None)
    if output:
        say("writing metrics.json and report.html")
        write_evaluation(output, res, title, generated, feats, ref, train_set, samples=samples, model=model,
                         properties=properties)
    return res


def temperature_sweep(model, temperatures, n: int, test, *, train=None, n_ref: int = 10000, fcd: bool = True,
                      seed: int = 0, output=None, progress=None, batch_size: int = 1024) -> list[dict]:
    """Sample ``n`` molecules at each softmax temperature and score each set as :func:`evaluate_samples` does
    (``output/T<t>/`` gets its metrics.json, report.html and samples.smi): the validity / uniqueness / novelty /
    FCD trade-off of a prior, one row per temperature (``temperature`` first, then the metrics' numbers)."""
    temps = [float(t) for t in temperatures]
    if not temps or any(not t > 0 for t in temps):
        raise InputError(f"temperatures must be > 0, not {temperatures}")
    if output:
        check_writable(output, "dir")
    say = _reporter(progress)
    references = _references(test, train, n_ref, fcd, seed, say, {})  # once for every temperature
    rows = []
    for t in temps:
        say(f"sampling {n:,} molecules at temperature {t:g}")
        res = sample_smiles(model, n, temperature=t, batch_size=batch_size, seed=seed)
        metrics, feats, ref, train_set = _evaluate(res["written"], test, train, n_ref, fcd, seed, say,
                                                   references=references)
        if output:
            folder = Path(output) / f"T{t:g}"
            write_evaluation(folder, metrics, f"samples at temperature {t:g}", res["written"], feats, ref,
                             train_set, model=model)
            write_smiles(folder / "samples.smi", res["written"])
        rows.append({"temperature": t, **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}})
    return rows


def _references(test, train, n_ref: int, fcd: bool, seed: int, say, seconds: dict, train_set=None) -> tuple:
    """What samples are scored against: ``(reference SMILES, reference statistics, training set or None)``
    (``train_set``: the training set's canonical set when it was read already)."""
    from . import metrics as M

    t = time.perf_counter()
    say(f"reference: {n_ref:,} molecules of {test}" + (" (random draw; with their ChemNet statistics for FCD, "
                                                        "cached for later runs)" if fcd else " (random draw)"))
    ref_smiles = reference_draw(test, n_ref, seed)
    cache = M.reference_cache(ref_smiles, fcd)
    fresh = not cache.exists()
    if fresh:  # once per reference draw, a minute or more with FCD: say so before it starts
        _note(say, f"reference: computing the statistics of {len(ref_smiles):,} molecules of {test} (fingerprints, "
                   f"fragments, scaffolds, descriptors" + (", ChemNet activations for FCD" if fcd else "")
              + f"); once: they are cached in {cache.parent} for later runs")
    ref = M.reference(ref_smiles, name=str(test), fcd=fcd)
    seconds["reference"] = round(time.perf_counter() - t, 2)
    if fresh:
        _note(say, f"reference statistics computed in {seconds['reference']:.1f} s; cached at {cache}", step=False)
    if train and train_set is None:
        t = time.perf_counter()
        train_set = training_set(train, say)
        seconds["training set"] = round(time.perf_counter() - t, 2)
    return ref_smiles, ref, train_set


def training_set(train, progress=None) -> set[str]:
    """The canonical set that novelty is measured against (:func:`canonical_set`); a training set without one valid
    molecule (a blank or all-invalid file, an ``ID SMILES`` file read as SMILES) is refused, naming the file: every
    sample would be "novel" against it."""
    found = canonical_set(train, progress=progress)
    if not found:
        raise InputError("no valid molecule in the training set for novelty (a .smi file has the SMILES first on "
                         "each line; a .csv/.tsv a column named smiles)", resolve_input(train))
    return found


def _evaluate(generated: list[str], test, train, n_ref: int, fcd: bool, seed: int, say, source=None,
              seconds: dict | None = None, references: tuple | None = None, train_set=None):
    """The metrics, and what the report draws from: ``(metrics, sample features, reference, training set)``;
    ``seconds`` (a dict) gets the time of each step; ``references`` (from :func:`_references`) are reused, not
    drawn again."""
    from . import metrics as M

    if not any(s.strip() for s in generated):
        raise InputError(f"no samples to evaluate ({len(generated):,} lines, all blank or unreadable)", source)
    seconds = {} if seconds is None else seconds
    ref_smiles, ref, train_set = references or _references(test, train, n_ref, fcd, seed, say, seconds, train_set)
    t = time.perf_counter()
    say(f"scoring {len(generated):,} samples (validity, uniqueness" + (", novelty" if train else "")
        + (", FCD" if fcd else "") + ", SNN, Frag, Scaf, IntDiv, KL)")
    res = M.evaluate(generated, ref, train_set, fcd=fcd)
    seconds["scoring"] = round(time.perf_counter() - t, 2)
    feats = res.pop("_features", None)
    res["reference"] = {"test": str(test), "n_ref": len(ref_smiles), "seed": seed,
                        "train": str(train) if train else None}
    return res, feats, ref, train_set


def write_evaluation(output, res: dict, title: str, generated: list[str], feats=None, ref=None, train_set=None,
                     samples=None, model=None, properties: dict | None = None, links: dict | None = None) -> None:
    """``metrics.json`` and ``report.html`` of an evaluation into the folder ``output``."""
    from .report import write_report

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {**res, "versions": versions(), "hardware": hardware()})
    marks = None
    if train_set is not None and feats is not None:
        marks = {s: ("in train" if s in train_set else "novel") for s in feats.smiles[:500]}
    notes = {"model": str(model)} if model else {}
    ref_info = res.get("reference", {})
    notes["reference"] = (f"{ref_info.get('n_ref', 0):,} random molecules of {ref_info.get('test')} "
                          f"(seed {ref_info.get('seed')})")
    notes["novelty against"] = ref_info.get("train") or "— (no training set given)"
    write_report(out / "report.html", title, res,
                 feats.descriptors if feats is not None else None,
                 ref.features.descriptors if ref is not None else None,
                 generated[:2000], notes, samples=samples if samples is not None else None, marks=marks,
                 properties=properties, links=links)


def predicted_properties(smiles: list[str], model=None) -> dict:
    """logP/TPSA of valid molecules by a property model (default: the shipped one) beside RDKit's values.

    Returns ``{"smiles", "<target>_model", "<target>_rdkit" ..., "not_predicted", "MAE": {target: mae}}``, a row
    for every valid molecule in order (invalid strings are left out): where the model cannot read one (a token it
    never saw) its model values are NaN and ``not_predicted`` gives the reason; the MAE is over the predicted ones.
    """
    import numpy as np

    from .predict import predict_smiles

    keep = [i for i, s in enumerate(smiles) if chem.mol(s) is not None]
    valid = [smiles[i] for i in keep]
    pred, reasons, targets = predict_smiles(model or shipped_model("shipped", "property"), valid)
    rdkit = [chem.descriptors(s) for s in valid]
    out: dict = {"smiles": valid}
    for k, t in enumerate(targets):
        truth = np.array([d.get(t, np.nan) for d in rdkit], dtype=float)
        out[f"{t}_model"], out[f"{t}_rdkit"] = pred[:, k], truth
    out["not_predicted"] = [why or "" for why in reasons]
    out["MAE"] = {}
    for t in targets:
        ok = np.isfinite(out[f"{t}_rdkit"]) & np.isfinite(out[f"{t}_model"])
        out["MAE"][t] = float(np.abs(out[f"{t}_model"][ok] - out[f"{t}_rdkit"][ok]).mean()) if ok.any() else float("nan")
    return out


def recovery(model, heldout, *, n: int = 100_000, temperature: float = 1.0, seed: int = 0, batch_size: int = 1024,
             progress=None, every: int = 10_000, train=None) -> dict:
    """Fraction of held-out actives that appear among ``n`` sampled molecules (canonical match; Segler 2018), and
    its curve: after every ``every`` samples, the held-out actives recovered so far, the unique valid molecules, the
    new recoveries per 10,000 samples in that stretch and, with ``train`` (sources for :func:`canonical_set`, or
    ``"auto"`` for the model's own :func:`training_sources`), the novelty of the unique valid molecules."""
    targets, _ = read_heldout(heldout)
    known: set[str] | None = None
    if train is not None:
        known = set()
        for source in (training_sources(model) if train == "auto" else train):
            known |= canonical_set(source)
    res = sample_smiles(model, n, temperature=temperature, batch_size=batch_size, seed=seed, progress=progress)
    seen: set[str] = set()
    found: list[str] = []
    novel = 0
    curve = []
    for i, c in enumerate(res["canonical"], 1):
        if c is not None and c not in seen:
            seen.add(c)
            novel += known is not None and c not in known
            if c in targets:
                found.append(c)
        if i % every == 0 or i == n:
            before = curve[-1] if curve else {"samples": 0, "recovered": 0}
            point = {"samples": i, "recovered": len(found), "fraction": len(found) / len(targets) if targets else 0.0,
                     "unique_valid": len(seen),
                     "new_per_10k": (len(found) - before["recovered"]) * 10_000 / (i - before["samples"])}
            if known is not None:
                point["novelty"] = novel / len(seen) if seen else 0.0
            curve.append(point)
    out = {"heldout": len(targets), "recovered": len(found), "fraction": len(found) / len(targets) if targets else 0.0,
           "sampled": n, "valid": res["valid"], "unique_valid": len(seen), "examples": sorted(found)[:10],
           "seconds": res["seconds"], "curve": curve}
    if known is not None:
        out["novelty"] = curve[-1]["novelty"]
    return out


def read_heldout(source) -> tuple[set[str], int]:
    """The canonical SMILES of a held-out set and its line count; an invalid SMILES is refused naming the file, the
    line and RDKit's reason (a held-out set is measured against, so nothing in it is dropped silently); blank
    lines are skipped."""
    path = resolve_input(source)
    targets, rows = set(), 0
    for row in read_rows(path, smiles_column(source)):
        if not row.smiles.strip():
            continue
        rows += 1
        canon, reason = chem.canonical(row.smiles)
        if canon is None:
            raise InputError(f"invalid SMILES {row.smiles!r} in the held-out set: {reason}", path, row.line)
        targets.add(canon)
    if not targets:
        raise InputError("no valid held-out molecule to recover (only blank lines)", path)
    return targets, rows


def demo(output, *, model=None, n: int = 2000, fcd: bool = True, train: str | None = None, seed: int = 0,
         progress=None) -> dict:
    """The main job (``chemrnn demo``): sample ``n`` molecules from a language model (the shipped prior by default),
    score them against 5,000 shipped MOSES test molecules (and novelty against ``train``: default MOSES train when
    it is here, ``"none"`` to skip), predict the valid samples' logP/TPSA with the shipped property model beside
    RDKit's values (``properties.csv``), and write ``report.html`` with all of it.

    ``progress(message, done=None, total=None)`` hears of each step (a one-argument callback hears the messages).
    On a fresh machine with MOSES train here, the first run also canonicalizes MOSES train for novelty (about 3
    minutes on 2 cores, then cached); the returned ``seconds`` says what each step took."""
    import pandas as pd

    from . import datasets as ds

    say = _reporter(progress)
    output = Path(output)
    check_writable(output, "dir")  # before any work: a read-only or impossible folder is refused (exit 2)
    model_path = str(ds.resolve_model(model, "language"))
    if train is None:
        train = "moses" if ds.locate("moses") else None
    elif train == "none":
        train = None
    train_set, train_seconds = None, 0.0
    if train:  # a training set without a valid molecule is refused before anything is written
        t = time.perf_counter()
        train_set = training_set(train, say)
        train_seconds = round(time.perf_counter() - t, 2)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 2)
        clock = now

    record(output, {"model": model_path, "n": n, "seed": seed, "fcd": fcd, "reference": "moses:test_sample",
                    "train": train})
    message = f"sampling {n:,} molecules from {Path(model_path).name}"
    say(message, 0, n)
    res = sample_smiles(model_path, n, seed=seed, progress=lambda _, k=None, total=None: say(message, k, n))
    write_smiles(output / "samples.smi", res["written"])
    lap("sampling")
    if train:
        seconds["training set"] = train_seconds
    m, feats, ref, train_set = _evaluate(res["written"], "moses:test_sample", train, 5000, fcd, seed, say,
                                         seconds=seconds, train_set=train_set)
    clock = time.perf_counter()
    say("predicting logP and TPSA (the shipped property model, on the valid samples)")
    props = predicted_properties(res["written"])
    with atomic_write(output / "properties.csv") as fh:
        pd.DataFrame({k: v for k, v in props.items() if k != "MAE"}).to_csv(fh, index=False, float_format="%.4g")
    lap("properties")
    say("writing metrics.json and report.html")
    write_evaluation(output, m, f"chemrnn demo: {n:,} molecules from {Path(model_path).name}", res["written"],
                     feats, ref, train_set, samples=output / "samples.smi", model=model_path, properties=props,
                     links={"properties": output / "properties.csv", "config": output / "config.json"})
    lap("report")
    return {"model": model_path, "metrics": m, "sampling_seconds": res["seconds"], "n": n,
            "property_MAE": props["MAE"], "property_predicted": sum(not w for w in props["not_predicted"]),
            "property_not_predicted": sum(bool(w) for w in props["not_predicted"]), "train": train,
            "seconds": seconds}
