"""The Python API: every CLI command is one call here (DESIGN.md, layer 5).

Models are named the same way everywhere: a path, or a shipped model's name (``shipped`` = ``moses``, and ``chembl``,
for language models; ``shipped``, ``zinc`` for property models).
"""
from __future__ import annotations

import time
from pathlib import Path

from . import chem
from .datasets import (canonical_cache as _canonical_cache, canonical_set, is_dataset_name,  # noqa: F401
                       resolve_input, resolve_model, shipped_model, smiles_column)
from .errors import InputError
from .io import (atomic_write, BadLineError, base_suffix, check_writable, load_smiles_list, read_rows, sha256_of,
                 write_rejects, write_smiles)
# the API's calls that live in their own modules (re-exported)
from .predict import (PropertyPredictor, embed_file, embed_smiles, evaluate_property_model as evaluate_property,  # noqa: F401
                      input_rows, predict_file, predict_smiles, with_unit)
from .prepare import PrepareOptions, default_rejects_path, prepare, summary_path  # noqa: F401
from .runinfo import hardware, record, versions, write_json
from .utils import note as _note, reporter as _reporter


def shipped_prior() -> Path:
    """The language model shipped inside the package (trained on MOSES train)."""
    return shipped_model("shipped", "language")


def shipped_property_model() -> Path:
    """The logP/TPSA regressor shipped inside the package (trained on ZINC250k); ``shipped`` names it on the CLI."""
    return shipped_model("shipped", "property")


def load_lm(model=None, impl: str = "fused", device: str = "cpu"):
    """A language model with its vocabulary, tokenizer and file metadata (:class:`~chemrnn.models.language.LoadedModel`,
    which unpacks as ``model, vocabulary, tokenizer, meta``); ``None`` is the shipped prior. A model already loaded
    (a :class:`~chemrnn.models.language.LoadedModel`) is used as it is (a server keeps its models loaded)."""
    from .models.language import LoadedModel, load_language_model

    if isinstance(model, LoadedModel):
        return model
    return load_language_model(model, impl=impl, device=device)


def training_sources(model=None) -> list[str]:
    """What a language model was trained on, as recorded in its file: its training data and, for a fine-tuned
    model, the data of the prior it started from (and so on up the chain). Dataset names or paths, for
    :func:`canonical_set`; a recorded path that no longer exists is an error naming it, and so is a file that
    records no training data. ``None`` is the shipped default, as for :func:`load_lm`."""
    from .models.modelfile import read_meta

    first = resolve_model("shipped" if model is None else model, "language")
    sources, seen, path = [], set(), first
    while path is not None:
        if str(path) in seen:
            break
        seen.add(str(path))
        training = read_meta(path).get("training", {})
        config = training.get("config", {})
        recorded, here = _recorded_data(training)
        if recorded and not here:
            raise InputError(f"the model was trained on {recorded[0]}, which is not here: name the training set(s) "
                             f"with --exclude", path)
        sources += here[:1]
        # the model it started from: a fine-tuned model's init_from, a design run's prior
        start = config.get("init_from") or training.get("design", {}).get("prior")
        try:
            path = None if start is None else resolve_model(start, "language")
        except InputError:
            raise InputError(f"the model it started from, {start}, is not here: name the training set(s) with "
                             f"--exclude", path) from None
    if not sources:
        raise InputError("the model's file records no training data: name the known molecules with --exclude", first)
    return sources


def sample_smiles(model=None, n: int = 1000, *, temperature: float = 1.0, batch_size: int = 1024,
                  max_length: int = 140, seed: int = 0, device: str = "cpu", valid_only: bool = False,
                  unique_only: bool = False, progress=None, impl: str = "fused", novel_only: bool = False,
                  exclude=None) -> dict:
    """Sample ``n`` strings; return them with validity/uniqueness counts and the strings to write.

    ``valid_only``/``unique_only``/``novel_only`` write canonical SMILES; ``novel_only`` (Segler's focused
    libraries want molecules that are not already known) keeps those absent from ``exclude`` (a set of canonical
    SMILES, or sources for :func:`canonical_set`; default: the model's own :func:`training_sources`), and also
    writes each molecule once."""
    from .sample import sample

    m, vocab, tok, _ = load_lm(model, impl=impl, device=device)
    known = _known(model, exclude) if novel_only else set()
    t0 = time.perf_counter()
    s = sample(m, vocab, tok, n, temperature=temperature, batch_size=batch_size, max_length=max_length, seed=seed,
               device=device, progress=progress)
    seconds = time.perf_counter() - t0
    canon = [chem.canonical_or_none(x) for x in s.smiles]
    valid = [c for c in canon if c is not None]
    written, seen = [], set()
    for raw, c in zip(s.smiles, canon):
        if valid_only or unique_only or novel_only:
            if c is None or (novel_only and c in known):
                continue
            if (unique_only or novel_only) and c in seen:
                continue
            seen.add(c)
            written.append(c)
        else:
            written.append(raw)
    res = {"samples": s, "written": written, "valid": len(valid), "unique": len(set(valid)),
           "unfinished": int((~s.finished).sum()), "seconds": seconds, "canonical": canon}
    if novel_only:
        res["novel"] = len(written)
    return res


def decorate_smiles(model=None, n: int = 1000, *, core: str | None = None, link: tuple[str, str] | None = None,
                    temperature: float = 1.0, batch_size: int = 500, max_length: int = 140, seed: int = 0,
                    device: str = "cpu", unique_only: bool = False, progress=None, impl: str = "fused",
                    novel_only: bool = False, exclude=None) -> dict:
    """Molecules around a fixed core (:mod:`chemrnn.decorate`): ``core`` with attachment points decorated by the
    model, or the two fragments of ``link`` joined by a linker it writes. ``n`` strings are drawn; ``written`` holds
    the canonical SMILES of those that are molecules containing the core at its points (each once with
    ``unique_only``; only those outside ``exclude`` / the training data with ``novel_only``), with the counts."""
    from . import decorate

    if (core is None) == (link is None):
        raise InputError("give either a core or two fragments to link")
    m, vocab, tokenizer, _ = load_lm(model, impl=impl, device=device)
    template, query = (decorate.decoration_template(core, vocab, tokenizer) if core is not None
                       else decorate.linker_template(link[0], link[1], vocab, tokenizer))
    known = _known(model, exclude) if novel_only else set()
    t0 = time.perf_counter()
    raw, _ = decorate.decorate(m, vocab, tokenizer, template, n, temperature=temperature, batch_size=batch_size,
                               max_length=max_length, seed=seed, device=device, progress=progress)
    seconds = time.perf_counter() - t0
    checked, counts = decorate.check(raw, query)
    good = [c for c in checked if c is not None]
    written, seen = [], set()
    for c in good:
        if (novel_only and c in known) or ((unique_only or novel_only) and c in seen):
            continue
        seen.add(c)
        written.append(c)
    res = {"written": written, "drawn": n, "with_core": len(good), "unique": len(set(good)), "seconds": seconds,
           "template": template.text, **counts}
    if novel_only:
        res["novel"] = len(written)
    return res


SAMPLED_COLUMNS = ["index", "smiles", "canonical", "valid", "logP", "TPSA", "nll"]


def _known(model, exclude) -> set[str]:
    """The molecules a ``novel_only`` draw leaves out: ``exclude`` as a set of canonical SMILES, or read from its
    sources, or by default the model's training data (:func:`training_sources`)."""
    if isinstance(exclude, set):
        return exclude
    known: set[str] = set()
    for source in (training_sources(model) if exclude is None else exclude):
        known |= canonical_set(source)
    return known


def sampled_table(res: dict, known: set[str] | None = None) -> dict:
    """What a sampling run gave, molecule by molecule and in sum, from :func:`sample_smiles`'s result: ``rows``
    (index from 1, the string drawn, its canonical SMILES, valid, duplicate of an earlier draw, novel against
    ``known`` — None without it —, RDKit's logP and TPSA, the NLL it was drawn with), ``metrics`` (validity,
    uniqueness of the valid, novelty of the unique, counts, unfinished) and ``descriptors`` of each unique
    molecule. :func:`write_sampled` writes the rows as CSV."""
    s, canon = res["samples"], res["canonical"]
    valid = [c for c in canon if c]
    unique = list(dict.fromkeys(valid))
    novel = [c for c in unique if c not in known] if known is not None else None
    desc = {c: chem.descriptors(c) for c in unique}
    rows, seen = [], set()
    for k, (raw, c, nll) in enumerate(zip(s.smiles, canon, s.nll)):
        d = desc.get(c) or {}
        rows.append({"index": k + 1, "smiles": raw, "canonical": c or "", "valid": c is not None,
                     "duplicate": c is not None and c in seen,
                     "novel": None if known is None else bool(c) and c not in known,
                     "logP": d.get("logP", float("nan")), "TPSA": d.get("TPSA", float("nan")), "nll": float(nll)})
        seen.add(c)
    n = len(canon)
    metrics = {"validity": len(valid) / n if n else 0.0, "uniqueness": len(unique) / len(valid) if valid else 0.0,
               "novelty": None if novel is None else len(novel) / len(unique) if unique else 0.0,
               "valid": len(valid), "unique": len(unique), "novel": None if novel is None else len(novel),
               "unfinished": res["unfinished"]}
    return {"rows": rows, "metrics": metrics, "descriptors": desc, "n": n}


def write_sampled(fh, rows: list[dict]) -> None:
    """:func:`sampled_table`'s rows as CSV (:data:`SAMPLED_COLUMNS`) to an open text file."""
    import csv

    w = csv.writer(fh, lineterminator="\n")
    w.writerow(SAMPLED_COLUMNS)
    for r in rows:
        w.writerow([r["index"], r["smiles"], r["canonical"], int(r["valid"]), _fmt(r["logP"]), _fmt(r["TPSA"]),
                    f"{r['nll']:.4f}"])


def _fmt(x: float) -> str:
    """A value as the command line writes it (``%.6g``; empty where there is none)."""
    return "" if x is None or x != x or x in (float("inf"), float("-inf")) else f"{x:.6g}"


def quality_flags(smiles: list[str], preset: str = "default") -> list[str]:
    """What a medicinal chemist's first look would say of each SMILES under a quality preset
    (:mod:`chemrnn.scoring.quality`): ``pass``, the first failed check's reason, or ``invalid SMILES``."""
    from .scoring.quality import QualityFilter

    quality = QualityFilter.from_config({"preset": preset})
    canon = [chem.canonical_or_none(s) if s else None for s in smiles]
    reasons = quality.reasons(canon)
    return ["invalid SMILES" if c is None else (r or "pass") for c, r in zip(canon, reasons)]


def write_flagged(path, smiles: list[str], flags: list[str]) -> None:
    """``smiles,quality`` rows, as CSV, atomically (``.gz`` compresses)."""
    import csv

    with atomic_write(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["smiles", "quality"])
        w.writerows(zip(smiles, flags))


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


# ------------------------------------------------------------------------------------- evaluation
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


def _recorded_data(training: dict) -> tuple[list, list]:
    """The training data a model file records (the resolved path, the name given) and those of them that are here
    (existing paths first, then dataset names)."""
    recorded = [d for d in (training.get("data"), training.get("config", {}).get("data")) if d]
    return recorded, [d for d in recorded if Path(d).exists()] + [d for d in recorded if is_dataset_name(str(d))]


def own_training_source(model=None) -> str:
    """The data a language model itself was trained on (a fine-tuned model's actives, a prior's corpus), as
    recorded in its file: a dataset name or an existing path; an error naming the model when it is not here."""
    from .models.modelfile import read_meta

    path = resolve_model("shipped" if model is None else model, "language")
    recorded, here = _recorded_data(read_meta(path).get("training", {}))
    if here:
        return str(here[0])
    if recorded:
        raise InputError(f"the model was trained on {recorded[0]}, which is not here: name the known molecules "
                         f"with --exclude, or --no-exclude-training", path)
    raise InputError("the model's file records no training data: name the known molecules with --exclude, or "
                     "--no-exclude-training", path)


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


def library(model, n: int, output, *, method: str = "beam", temperature: float = 1.0, seed: int = 0,
            exclude_training: bool = True, novel_only: bool = False, exclude=None, heldout=None,
            every: int = 10_000, max_length: int = 140, batch_size: int = 1024, device: str = "cpu",
            progress=None) -> dict:
    """``chemrnn lm library``: a focused library of ``n`` distinct, valid, canonical molecules written to ``output``
    with their log-likelihood under the model, most likely first (see :mod:`chemrnn.library` for the methods).

    Never in it: the model's own training data (a fine-tuned model's actives; ``exclude_training``), with
    ``novel_only`` the data of every model it started from too, and the molecules of ``exclude`` (sources). With
    ``heldout``, the recovery curve of the method's order (its library at each size) every ``every`` molecules.
    The search saves its state in ``OUTPUT.partial/`` and a rerun of the same command resumes from it; the summary
    (settings, counts, time, curve) goes to ``OUTPUT.summary.json``. ``progress(message, done, total)``."""
    import numpy as np

    from .library import METHODS, build
    from .sample import likelihood

    if method not in METHODS:
        raise InputError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    if not temperature > 0:
        raise InputError(f"--temperature must be > 0, not {temperature}")
    output = Path(output)
    check_writable(output, "file")
    say = _reporter(progress)
    targets, heldout_rows = read_heldout(heldout) if heldout is not None else (None, 0)
    sources = list(exclude or [])  # the user's files first: a bad one is refused before a long canonicalization
    if novel_only:
        sources += training_sources(model)
    elif exclude_training:
        sources.append(own_training_source(model))
    known: set[str] = set()
    for source in sources:
        known |= canonical_set(source, progress=progress)
    m, vocab, tok, _ = load_lm(model, device=device)
    settings = {"model": str(model), "n": n, "method": method, "temperature": temperature, "seed": seed,
                "max_length": max_length, "known_sources": [str(x) for x in sources], "known": len(known)}
    workdir = output.with_name(output.name + ".partial")
    t0 = time.perf_counter()

    def report(stage, done, total=None):
        say(f"library ({method}, {n:,} molecules)", done, total)

    from .training.lock import run_lock

    with run_lock(workdir, "lm library"):  # one process at a time builds (and resumes) a library
        found = build(m, vocab, tok, n, method, known, temperature=temperature, max_length=max_length, seed=seed,
                      batch_size=batch_size, progress=report, workdir=workdir, settings=settings)
    search_s = time.perf_counter() - t0
    tokens = [tok.tokenize(x) for x in found.smiles]
    keep = [i for i, t in enumerate(tokens) if all(x in vocab for x in t)]
    if len(keep) < len(tokens):  # a search state saved before the vocabulary check: drop what cannot be scored
        found.stats["unspellable"] = found.stats.get("unspellable", 0) + len(tokens) - len(keep)
        found.smiles, tokens = [found.smiles[i] for i in keep], [tokens[i] for i in keep]
        found.logp = None if found.logp is None else found.logp[keep]
    logp = np.array(found.logp, dtype=float) if found.logp is not None else np.full(len(found.smiles), np.nan)
    todo = np.flatnonzero(np.isnan(logp))  # the molecules the method did not spell canonically at T = 1
    if len(todo):
        say(f"library: scoring {len(todo):,} molecules the method spelled otherwise")
        logp[todo] = -likelihood(m, vocab, tok, [found.smiles[i] for i in todo], batch_size=2048, device=device)
    ntok = np.array([len(t) + 1 for t in tokens])
    order = np.argsort(-logp, kind="stable")
    _write_library(output, [found.smiles[i] for i in order], logp[order], ntok[order], order)
    seconds = time.perf_counter() - t0
    stats = {k: v for k, v in found.stats.items() if isinstance(v, (int, float))}
    res = {"settings": settings, "written": len(found.smiles), "complete": len(found.smiles) == n,
           "search_seconds": round(search_s, 1), "seconds": round(seconds, 1),
           "molecules_per_s": round(len(found.smiles) / max(seconds, 1e-9), 1),
           "mean_logp": float(logp.mean()) if len(logp) else None, "stats": stats,
           "versions": versions(), "hardware": hardware()}
    if targets is not None:
        from .library import recovery_curve

        res["heldout"] = {"source": str(heldout), "molecules": len(targets), "rows": heldout_rows,
                          "known": len(targets & known),
                          "curve": recovery_curve(found.smiles, targets, every)}
        last = res["heldout"]["curve"][-1] if res["heldout"]["curve"] else {"recovered": 0, "fraction": 0.0}
        res["heldout"].update(recovered=last["recovered"], fraction=last["fraction"])
    write_json(output.with_name(output.name + ".summary.json"), res)
    _remove_tree(workdir)
    return res


def _write_library(path: Path, smiles, logp, ntok, rank) -> None:
    """A library file: ``.csv`` with a header (smiles, logp, logp_per_token, tokens, rank), or a SMILES file with
    the log-likelihood as its name column (gzipped for ``.gz``)."""
    import csv

    with atomic_write(path) as fh:
        if base_suffix(path)[0] in (".csv", ".tsv"):
            w = csv.writer(fh, delimiter="," if base_suffix(path)[0] == ".csv" else "\t", lineterminator="\n")
            w.writerow(["smiles", "logp", "logp_per_token", "tokens", "rank"])
            for s, lp, t, r in zip(smiles, logp, ntok, rank):
                w.writerow([s, f"{lp:.4f}", f"{lp / t:.4f}", int(t), int(r) + 1])
        else:
            for s, lp in zip(smiles, logp):
                fh.write(f"{s}\t{lp:.4f}\n")


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def score(model, source, output=None, *, as_written: bool = False, column: str | None = None,
          device: str = "cpu") -> dict:
    """``chemrnn lm score``: the log-likelihood under ``model`` of each row's molecule (total and per token), one
    output row per input row in order (``line, smiles, scored, logp, logp_per_token, tokens, error``); rows that
    cannot be scored carry the reason. Returns the rows and the counts."""
    import csv
    import io as _io

    from .library import score_rows

    path = resolve_input(source)
    rows = list(read_rows(path, column or smiles_column(source)))
    if not any(r.smiles.strip() for r in rows):
        raise InputError("no SMILES to score (only blank lines or empty cells)", path)
    m, vocab, tok, _ = load_lm(model, device=device)
    scored = score_rows(m, vocab, tok, rows, as_written=as_written)
    if output is not None:
        buf = _io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["line", "smiles", "scored", "logp", "logp_per_token", "tokens", "error"])
        for x in scored:
            ok = not x.error
            w.writerow([x.line, x.smiles, x.scored if ok else "", f"{x.logp:.6f}" if ok else "",
                        f"{x.logp_per_token:.6f}" if ok else "", x.tokens if ok else "", x.error])
        with atomic_write(output) as fh:
            fh.write(buf.getvalue())
    good = [x for x in scored if not x.error]
    return {"rows": scored, "scored": len(good), "failed": len(scored) - len(good),
            "mean_logp": sum(x.logp for x in good) / len(good) if good else None,
            "mean_logp_per_token": sum(x.logp_per_token for x in good) / len(good) if good else None}


# ------------------------------------------------------------------------------------------ design
def design(config, output, restart: bool = False, progress=None) -> dict:
    """``chemrnn design run``: a design run from a TOML config (see examples/), resumable; returns its summary."""
    from .design import run_design

    return run_design(config, output, restart=restart, progress=progress)


def activity_rejects_path(output) -> Path:
    """Where ``activity train -o MODEL`` writes the actives it rejected: ``MODEL.rejects.csv`` beside the model
    (``jnk3.chemrnn`` → ``jnk3.rejects.csv``; a model folder ``jnk3/`` → ``jnk3.rejects.csv``)."""
    out = Path(output)
    name = out.name[: -len(".chemrnn")] if out.name.endswith(".chemrnn") else out.name
    return out.with_name(name + ".rejects.csv")


def train_activity(actives, output, *, decoys="chembl", decoy_ratio: float = 5.0, trees: int = 200, folds: int = 5,
                   seed: int = 0, progress=None) -> dict:
    """``chemrnn activity train``: a target-activity model (actives vs decoys), saved to ``output``; its CV metrics.
    Every row of the actives is accounted for (``metrics["active_rows"]``: actives, duplicates, rejected by
    reason); the rejected ones (blank, invalid SMILES, no carbon atom: ``[Xe]``, NaCl) go with their file line,
    reason and text to :func:`activity_rejects_path` (``metrics["rejects"]``, None when there are none)."""
    from .scoring.activity import ActivityConfig, screen_actives, train_activity_model

    rejects_path = activity_rejects_path(output)
    check_writable(rejects_path, "file")
    sources = {}
    for name, src in (("actives", actives), ("decoys", decoys)):
        path = resolve_input(src)
        sources[name] = {"source": str(src), "path": str(path), "sha256": sha256_of(path)}
    rows = list(read_rows(Path(sources["actives"]["path"]), smiles_column(actives)))
    decoy_smiles = load_smiles_list(Path(sources["decoys"]["path"]), smiles_column(decoys))
    smiles = [r.smiles for r in rows]
    screened = screen_actives(smiles, [r.error for r in rows])
    cfg = ActivityConfig(n_trees=trees, decoy_ratio=decoy_ratio, folds=folds, seed=seed)
    model, metrics = train_activity_model(smiles, decoy_smiles, cfg, source=sources, progress=progress,
                                          screened=screened)
    model.save(output)
    if screened.rejected:
        write_rejects(rejects_path, ((rows[i].line, why, rows[i].raw) for i, why in screened.rejected))
    else:
        rejects_path.unlink(missing_ok=True)  # none from an earlier model of the same name
    metrics["rejects"] = str(rejects_path) if screened.rejected else None
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


def finetune(prior, actives, output, restart: bool = False, verbose: bool = True, **options) -> dict:
    """``chemrnn lm finetune``: transfer learning (Segler et al. 2018) of ``prior`` on ``actives`` into the run
    directory ``output`` (the model is ``output/model``); rerun to resume. ``options``: ``epochs``, ``batch_size``,
    ``lr``, ``val_size``, ``unknown``, ``seed``, ``device`` or any training setting (see
    :func:`chemrnn.training.lm.finetune_config`). Returns the final metrics (steps, epochs, train_size …)."""
    from .training import finetune_config, train_language_model

    return train_language_model(finetune_config(prior, actives, **options), output, restart=restart,
                                verbose=verbose)


# ------------------------------------------------------------------------------------------ main job
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
            "property_MAE": props["MAE"], "train": train, "seconds": seconds}


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
