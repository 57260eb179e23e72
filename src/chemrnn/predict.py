"""Using a trained property model: :class:`PropertyPredictor` loads a model once and predicts or embeds many
batches (the form a scoring function in the design loop needs), plus the one-call helpers behind the CLI.

Every input string gets a row. A SMILES that RDKit cannot read gets no value and its reason; so does a molecule
with tokens the model never saw in training (``[Se]``, ``[U]`` …): a recurrent model would read them as
``<unk>`` and answer with a confident, meaningless number, so chemrnn refuses to. Molecules longer than any the model was trained on get a value and a warning (the model file records
that length: models trained by this version as they are saved; the shipped model's was re-derived from its training
data, ``scripts/record_shipped_max_tokens.py``).

:func:`within_physical_range` is what the command line and the web page show: a value no molecule can have (a
negative TPSA) is clipped to the least possible one, and the row's warning says so. :meth:`PropertyPredictor.predict`
itself gives the network's values as they are.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import chem
from .batching import by_length, spelled_ids
from .datasets import cache_dir, is_dataset_name, locate, resolve_input, resolve_model, smiles_column
from .errors import ChemrnnError, InputError
from .io import atomic_write, file_kind, iter_lines, pick_column, read_rows, read_table, sha256_of, write_rejects
from .models.property import PropertyEnsemble, load_property_model
from .runinfo import write_json
from .utils import inference_precision, pyplot, save_fig, torch_device

UNSEEN = "tokens the model never saw in training"  # the start of the reason given for such molecules
UNITS = {"TPSA": "Å²"}  # the unit of a known target, where it has one (logP is the logarithm of a ratio)
PHYSICAL_RANGE = {"TPSA": (0.0, None)}  # (least, greatest) value any molecule can have; None: no bound


def with_unit(target: str) -> str:
    """A target's name as a table's header shows it: ``TPSA (Å²)``, ``logP``."""
    return f"{target} ({UNITS[target]})" if target in UNITS else target


def within_physical_range(values: np.ndarray, targets: list[str], warnings: list[str]
                          ) -> tuple[np.ndarray, list[str]]:
    """``values [n, targets]`` with each value outside :data:`PHYSICAL_RANGE` clipped to the bound it crosses,
    and the warnings with, for each such row, what was predicted and what is shown instead (joined to any warning
    the row had with "; "). A recurrent model extrapolates freely: far from its training data (a 100-carbon chain)
    it can predict a negative polar surface area."""
    values = np.array(values, dtype=float, copy=True)
    warnings = list(warnings)
    for k, t in enumerate(targets):
        lo, hi = PHYSICAL_RANGE.get(t, (None, None))
        unit = f" {UNITS[t]}" if t in UNITS else ""
        for i, v in enumerate(values[:, k]):
            if not np.isfinite(v):
                continue
            bound = lo if lo is not None and v < lo else hi if hi is not None and v > hi else None
            if bound is None:
                continue
            side = "below the least" if bound == lo else "above the greatest"
            note = f"{t} predicted {v:.2f}{unit}, {side} possible ({bound:g}{unit}): shown as {bound:g}"
            values[i, k] = bound
            warnings[i] = f"{warnings[i]}; {note}" if warnings[i] else note
    return values, warnings


def outcome_counts(errors: list[str], warnings: list[str] | None = None) -> dict:
    """What happened to each row: ``rows = predicted + invalid + unseen_tokens``; ``warnings`` counts predicted
    rows that carry a warning. ``errors`` are the reasons ("" where there is a value)."""
    unseen = sum(1 for e in errors if e.startswith(UNSEEN))
    failed = sum(1 for e in errors if e)
    return {"rows": len(errors), "predicted": len(errors) - failed, "invalid": failed - unseen,
            "unseen_tokens": unseen, "warnings": sum(1 for w in (warnings or []) if w)}


def outcome_summary(counts: dict) -> str:
    """One line for the user: ``120 rows: 117 predicted, 2 invalid SMILES, 1 with unseen tokens, 0 warnings``."""
    return (f"{counts['rows']:,} rows: {counts['predicted']:,} predicted, {counts['invalid']:,} invalid SMILES, "
            f"{counts['unseen_tokens']:,} with tokens the model never saw, {counts['warnings']:,} warnings")


@dataclass
class Predictions:
    """Values ``[n, targets]`` (NaN where there is none), a reason per row without a value ("" otherwise) and a
    warning per row ("" when none)."""

    values: np.ndarray
    errors: list[str]
    warnings: list[str]
    targets: list[str]
    counts: dict = field(default_factory=dict)
    spread: np.ndarray | None = None  # an ensemble's: the standard deviation over its members, [n, targets]


@dataclass
class Embeddings:
    """Vectors ``[n, width]`` (NaN rows where there is no prediction), reasons, warnings and counts, as
    :class:`Predictions`."""

    vectors: np.ndarray
    errors: list[str]
    warnings: list[str]
    counts: dict = field(default_factory=dict)


class PropertyPredictor:
    """A property model loaded once, to predict or embed many batches of SMILES.

    ``model``: a model file or directory, or ``shipped`` (the packaged ZINC250k logP/TPSA model).
    ``precision``: ``32`` (the default) | ``auto`` | ``bf16`` (see :func:`chemrnn.utils.inference_precision`; on a
    GPU ``auto`` is bf16 where the GPU supports it). In float32 a molecule's prediction and embedding do not depend
    on the other molecules of its batch (to float32 rounding); under bf16 autocast they move by about 1e-3 with the
    batch's size and lengths, so bf16 is for throughput only, asked for by name. ``device``: ``cpu`` | ``auto`` |
    ``gpu`` | ``cuda``.
    """

    def __init__(self, model="shipped", precision: str = "32", impl: str = "fused", batch_size: int = 256,
                 device: str = "cpu"):
        inference_precision(precision)  # a bad value fails here, before any work
        self.device = device if device.startswith("cuda:") else torch_device(device)  # cuda:N as given
        self.model, self.vocabulary, self.tokenizer, self.meta = load_property_model(model, impl=impl)
        self.model.to(self.device)
        self.path = str(model)
        self.targets: list[str] = list(self.meta["targets"])
        self.members = len(self.model) if isinstance(self.model, PropertyEnsemble) else 1  # ensemble: K > 1
        self.mean = np.array(self.meta["scaling"]["mean"]).reshape(self.members, -1) if self.members > 1 \
            else np.array(self.meta["scaling"]["mean"])
        self.std = np.array(self.meta["scaling"]["std"]).reshape(self.members, -1) if self.members > 1 \
            else np.array(self.meta["scaling"]["std"])
        self.precision, self.batch_size = precision, batch_size
        self.max_tokens = (self.meta.get("training") or {}).get("max_tokens")
        # the test-time augmentation the model was evaluated with: training's --augment N and seed (older files
        # wrote a flag, and evaluated on the canonical SMILES only)
        training = self.meta.get("training") or {}
        augment = (training.get("config") or {}).get("augment")
        self.augment = 0 if isinstance(augment, bool) or not isinstance(augment, int) else augment
        self.seed = int(training.get("seed") or 0)

    def _autocast(self):
        """The precision context on this predictor's device."""
        if not self.device.startswith("cuda"):
            return inference_precision(self.precision)
        import torch

        bf16 = self.precision == "bf16" or (self.precision == "auto" and torch.cuda.is_bf16_supported())
        return torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def _run(self, fn, ids: list[np.ndarray], width: int) -> np.ndarray:
        dev = self.device

        def on_device(x, lengths):
            return fn(x.to(dev), lengths.to(dev))

        with self._autocast():
            return by_length(on_device, ids, width, self.model.config.pad_id, self.batch_size)

    # ------------------------------------------------------------------------------------ parsing
    def _parse(self, smiles: list[str]):
        """Canonical SMILES (None where unusable), the reason for each unusable one, and warnings."""
        canon, errors, warnings = [], [], []
        for s in smiles:
            c, why = chem.canonical(s)
            warn = ""
            if c is not None:
                tokens = self.tokenizer.tokenize(c)
                unseen = sorted({t for t in tokens if t not in self.vocabulary})
                if unseen:
                    c, why = None, f"tokens the model never saw in training: {' '.join(unseen)}"
                elif self.max_tokens and len(tokens) > self.max_tokens:
                    warn = f"longer than any training molecule ({len(tokens)} > {self.max_tokens} tokens)"
            canon.append(c)
            errors.append("" if c is not None else (why or "invalid SMILES"))
            warnings.append(warn)
        return canon, errors, warnings

    def _ids(self, smiles: str) -> np.ndarray:
        return np.array(self.vocabulary.encode(self.tokenizer.tokenize(smiles), unknown="unk"))  # checked in _parse

    # ------------------------------------------------------------------------------------ use
    def predict(self, smiles: list[str], augment: int | None = None, seed: int | None = None) -> Predictions:
        """Predictions in the targets' units. ``augment > 0`` also averages over that many randomized SMILES of
        each molecule; ``None``: as the model was evaluated in training (:attr:`augment`, :attr:`seed`), so a
        model's reported test figure is reproduced. An ensemble's value is its members' mean, and ``spread``
        their standard deviation (population form: 0 when the members agree)."""
        canon, errors, warnings = self._parse(list(smiles))
        ok = [i for i, c in enumerate(canon) if c is not None]
        T, K = len(self.targets), self.members
        out = np.full((len(canon), T), np.nan)
        spread = np.full((len(canon), T), np.nan) if K > 1 else None
        if ok:
            augment = self.augment if augment is None else augment
            seed = self.seed if seed is None else seed
            per = 1 + augment
            ids = spelled_ids([canon[i] for i in ok], augment, seed, self.tokenizer, self.vocabulary)
            z = self._run(self.model, ids, K * T)
            z = z.reshape(len(ok), per, K, T).mean(1)  # each member averages over the variants
            units = z * self.std.reshape(K, T) + self.mean.reshape(K, T)  # [molecules, members, targets]
            out[ok] = units.mean(1)
            if spread is not None:
                spread[ok] = units.std(1)
        return Predictions(out, errors, warnings, self.targets, outcome_counts(errors, warnings), spread)

    def __call__(self, smiles: list[str]) -> np.ndarray:
        """Values ``[n, targets]`` (NaN where there is none): the form a scoring function takes. It reads the
        canonical SMILES only, whatever the model's test-time augmentation: a design loop scores thousands of
        molecules a step, and N random spellings would cost N + 1 times the forward passes."""
        return self.predict(smiles, augment=0).values

    @property
    def embedding_width(self) -> int:
        return self.model.embedding_width

    def embeddings(self, smiles: list[str]) -> Embeddings:
        """Pooled RNN vectors with the reasons, warnings and counts of :meth:`predict`."""
        canon, errors, warnings = self._parse(list(smiles))
        ok = [i for i, c in enumerate(canon) if c is not None]
        out = np.full((len(canon), self.embedding_width), np.nan, dtype=np.float32)
        if ok:
            out[ok] = self._run(self.model.embed, [self._ids(canon[i]) for i in ok], self.embedding_width)
        return Embeddings(out, errors, warnings, outcome_counts(errors, warnings))

    def embed(self, smiles: list[str]) -> tuple[np.ndarray, list[str]]:
        """Pooled RNN vectors ``[n, width]`` (NaN rows where there is no prediction) and the reasons."""
        e = self.embeddings(smiles)
        return e.vectors, e.errors


# --------------------------------------------------------------------------------------- one call
def predict_smiles(model_path, smiles: list[str], augment: int | None = None, seed: int | None = None,
                   precision: str = "32", device: str = "cpu"):
    """Predictions ``[n, targets]`` (NaN where there is none), the reason for each missing one, and the targets."""
    p = PropertyPredictor(model_path, precision, device=device).predict(smiles, augment, seed)
    return p.values, p.errors, p.targets


def embed_smiles(model_path, smiles: list[str], precision: str = "32", device: str = "cpu"):
    """Pooled RNN vectors ``[n, width]`` (NaN rows for unusable SMILES) and the reasons."""
    return PropertyPredictor(model_path, precision, device=device).embed(smiles)


def evaluate_property_model(model_path, source, output, column: str | None = None, precision: str = "32",
                            device: str = "cpu") -> dict:
    """Metrics per target, parity plots (PNG) and MAE by heavy-atom count on a labelled file.

    Rows of the file that cannot be scored (empty or invalid SMILES, missing target value) are listed in
    ``output/rejects.csv`` (line, reason, SMILES); molecules the model cannot predict (tokens it never saw) are
    counted in ``_no_prediction``. A file without a single scorable molecule is bad input. ``overlap_with_training``
    says how many of the scored molecules the model was trained on (:func:`training_overlap`): such figures are not
    a test.
    """
    from .labels import load_labelled, target_origins
    from .metrics import regression_metrics

    predictor = PropertyPredictor(model_path, precision, device=device)
    targets = predictor.targets
    smiles, Y, rejects = load_labelled(source, targets, column)
    origins = target_origins(source, targets)
    result = predictor.predict(smiles)
    pred = result.values
    scored = np.isfinite(pred).all(1)
    if not scored.any():  # before anything is written
        raise InputError(f"no molecule to score: {len(rejects):,} rows rejected, {int((~scored).sum()):,} "
                         f"without a prediction" + (f" (first: line {rejects[0][0]}, {rejects[0][1]})"
                                                    if rejects else ""), source)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    sizes = np.array(chem.heavy_atoms(smiles))
    if rejects:
        write_rejects(output / "rejects.csv", rejects)
    res: dict = {"_n": int(scored.sum()), "_rejected": len(rejects), "_no_prediction": int((~scored).sum()),
                 "_unseen_tokens": result.counts["unseen_tokens"], "_warnings": result.counts["warnings"]}
    res["overlap_with_training"] = training_overlap(model_path, [s for s, ok in zip(smiles, scored) if ok])
    Y, pred, sizes = Y[scored], pred[scored], sizes[scored]
    plt = pyplot()
    for k, t in enumerate(targets):
        res[t] = regression_metrics(Y[:, k], pred[:, k])
        # where the true values come from: computed here, or the file's own (measured, or whatever it holds)
        res[t]["true_values"] = "RDKit" if origins[t] == "RDKit" else f"from {resolve_input(source).name}"
        bins = [(0, 15), (16, 20), (21, 25), (26, 30), (31, 35), (36, 200)]
        res[t]["MAE_by_heavy_atoms"] = {
            f"{lo}-{hi}" if hi < 200 else f"{lo}+": float(np.abs(pred[sel, k] - Y[sel, k]).mean())
            for lo, hi in bins if (sel := (sizes >= lo) & (sizes <= hi)).any()}
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(Y[:, k], pred[:, k], s=3, alpha=0.3)
        lo, hi = float(min(Y[:, k].min(), pred[:, k].min())), float(max(Y[:, k].max(), pred[:, k].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"{t} ({res[t]['true_values']})")
        ax.set_ylabel(f"{t} (predicted)")
        ax.set_title(f"{t}: MAE {res[t]['MAE']:.3f}, R² {res[t]['R2']:.3f}")
        save_fig(fig, output / f"parity_{t}.png")
    write_json(output / "metrics.json", res)
    return res


# --------------------------------------------------------------------------------------- training data
def training_overlap(model_path, smiles: list[str]) -> dict:
    """How many of ``smiles`` (canonical) the property model was trained on: ``{"count", "fraction", "of",
    "checked_against"}``, or ``{"count": None, "fraction": None, "of", "reason"}`` where it cannot be told."""
    try:
        hashes, how = training_hashes(model_path)
    except ChemrnnError as exc:  # the training data is there but no longer readable as it was: say so, go on
        hashes, how = None, f"re-deriving the training split failed ({exc})"
    if hashes is None:
        return {"count": None, "fraction": None, "of": len(smiles), "reason": how}
    from .models.modelfile import molecule_hashes

    count = int(np.isin(molecule_hashes(smiles), hashes).sum()) if smiles else 0
    return {"count": count, "fraction": round(count / len(smiles), 4) if smiles else 0.0, "of": len(smiles),
            "checked_against": how}


def training_hashes(model_path) -> tuple[np.ndarray | None, str]:
    """The hashes of a property model's training molecules (:func:`chemrnn.models.modelfile.molecule_hashes` of
    the canonical SMILES) and where they come from; or ``(None, why not)``.

    Models trained by this version record them beside their weights. For older ones (the shipped model) the
    training split is re-derived from what the file records (data, targets, column, split, seed: the split is a
    function of these), where that data is on this machine, checked against the recorded training size, and
    cached."""
    from .labels import load_labelled, split_indices
    from .models import modelfile

    path = resolve_model(model_path, "property")
    recorded = modelfile.read_training_set(path)
    if recorded is not None:
        return recorded, "the training molecules recorded in the model file"
    meta = modelfile.read_meta(path)
    training = meta.get("training") or {}
    cfg = training.get("config") or {}
    run = (training.get("metrics") or {}).get("_run") or {}
    data, split, seed = cfg.get("data"), cfg.get("split", "random"), cfg.get("seed", training.get("seed"))
    if not data or seed is None:
        return None, "the model file records neither its training molecules nor its training data and seed"
    if split not in ("random", "scaffold"):
        return None, f"the model file records an unknown split ({str(split)[:20]!r})"
    src = None
    if is_dataset_name(str(data)):
        src = locate(str(data))
    elif Path(str(data)).is_file():
        src = Path(str(data))
    if src is None and training.get("data") and Path(training["data"]).is_file():
        src = Path(training["data"])
    if src is None:
        return None, (f"the model file records no training molecules (saved before they were recorded), and its "
                      f"training data ({data}) is not on this machine")
    targets, column, folds = list(meta.get("targets") or []), cfg.get("column"), int(cfg.get("folds") or 1)
    import hashlib
    import json

    key = json.dumps([sha256_of(src), targets, column, split, seed, folds], default=str)
    cached = cache_dir() / "training_sets" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"
    how = f"its training split re-derived from {data} ({split} split, seed {seed}; the model file records no " \
          f"training molecules)"
    if cached.is_file():
        return np.load(cached, allow_pickle=False), how
    trained_on = _random_split_training_smiles(src, data, column, seed, run) if split == "random" and folds == 1 \
        else None
    if trained_on is None:
        smiles, _, _ = load_labelled(src, targets, column)
        train = range(len(smiles)) if folds > 1 else split_indices(smiles, split, seed=seed)[0]
        if folds == 1 and run.get("train") is not None and len(train) != run["train"]:
            return None, (f"re-deriving its training split from {data} gives {len(train):,} molecules where the "
                          f"model file says {run['train']:,}: not the data it was trained on")
        trained_on = [smiles[i] for i in train]
    hashes = np.unique(modelfile.molecule_hashes(trained_on))
    with atomic_write(cached, "wb") as fh:
        np.save(fh, hashes)
    return hashes, how


def _random_split_training_smiles(src: Path, data, column, seed: int, run: dict) -> list[str] | None:
    """The canonical training SMILES of a random split over a file from which training rejected no row (as the
    model file records): the split depends only on the number of rows and the seed, so only the training rows need
    canonicalizing (no labels computed). None where that shortcut does not hold (then :func:`load_labelled` runs)."""
    from .labels import split_indices

    sizes = [run.get(k) for k in ("train", "val", "test")]
    if run.get("rejected") != 0 or not all(isinstance(n, int) for n in sizes):
        return None
    header, rows, fields = read_table(src, on_bad_line="skip")
    if len(rows) != sum(sizes) or any(r.error for r in rows):
        return None
    col = pick_column(header, column or smiles_column(data), src)
    train = split_indices([""] * len(rows), "random", seed=seed)[0]
    if len(train) != sizes[0]:
        return None
    canon = chem.canonical_all([fields[i][col] if len(fields[i]) > col else "" for i in train])
    return None if any(c is None for c in canon) else canon


# ------------------------------------------------------------------------------------------ files in, files out
def input_rows(input: str, column: str | None):
    """Every row of an input file (or dataset), bad lines included, so outputs line up with inputs; a file with no
    SMILES at all (only blank or unreadable lines) is bad input (exit 2)."""
    path = resolve_input(input)
    rows = list(read_rows(path, column=column or smiles_column(input), on_bad_line="skip"))
    if not any(r.smiles for r in rows):
        bad = [r for r in rows if r.error]
        raise InputError(f"no SMILES to read: {len(rows):,} data lines, {len(rows) - len(bad):,} blank, "
                         f"{len(bad):,} unreadable" + (f" (line {bad[0].line}: {bad[0].error})" if bad else ""), path)
    return rows


def _input_fields(input: str, column: str | None, rows, reserved: set[str]):
    """The input's own columns, to be kept beside the predictions: every column of a CSV/TSV but the SMILES one,
    or the name column of a .smi (when any line has a name). Returns ``(names, values per row)``; names that
    clash with an output column get an ``input_`` prefix."""
    import csv

    path = resolve_input(input)
    kind = file_kind(path)
    if kind == "smi":
        if not any(r.name for r in rows):
            return [], [[] for _ in rows]
        names, values = ["name"], [[r.name] for r in rows]
    else:
        delim = "," if kind == "csv" else "\t"
        lines = iter_lines(path, on_bad_line="skip")
        _, text, _ = next(lines)
        lines.close()
        header = [h.strip() for h in next(csv.reader([text], delimiter=delim))]
        keep = [i for i in range(len(header)) if i != pick_column(header, column or smiles_column(input), path)]
        names, values = [header[i] for i in keep], []
        for r in rows:
            fields = next(csv.reader([r.raw], delimiter=delim), []) if r.raw.strip() and not r.error else []
            values.append([fields[i] if i < len(fields) else "" for i in keep])
    return [f"input_{n}" if n in reserved else n for n in names], values


def predict_file(model, input, output, *, column: str | None = None, augment: int | None = None,
                 seed: int | None = None, batch_size: int = 256, device: str = "auto", precision: str = "32") -> dict:
    """``chemrnn property predict``: every row of ``input`` predicted, in order, into the CSV ``output`` (line,
    smiles, the input's other columns, one column per target — for an ensemble then ``TARGET_std`` —, error,
    warning); values outside what any molecule can have are clipped and warned of. Returns the outcome counts and
    their one-line ``summary``."""
    import csv

    predictor = PropertyPredictor(model, precision, batch_size=batch_size, device=device)
    rows = input_rows(input, column)
    targets = predictor.targets
    spreads = [f"{t}_std" for t in targets] if predictor.members > 1 else []  # an ensemble's uncertainty
    names, extra = _input_fields(input, column, rows, {"line", "smiles", *targets, *spreads, "error", "warning"})
    res = predictor.predict([r.smiles for r in rows], augment, seed)
    values, warnings = within_physical_range(res.values, targets, res.warnings)
    errors = [r.error or why for r, why in zip(rows, res.errors)]  # a line the reader rejected says why
    spread = res.spread if res.spread is not None else np.empty((len(rows), 0))
    with atomic_write(output) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["line", "smiles", *names, *targets, *spreads, "error", "warning"])
        for r, more, v, sd, why, warn in zip(rows, extra, values, spread, errors, warnings):
            w.writerow([r.line, r.smiles, *more, *("" if np.isnan(x) else f"{x:.6g}" for x in (*v, *sd)), why,
                        warn])
    counts = outcome_counts(errors, warnings)
    return {**counts, "summary": outcome_summary(counts)}


def embed_file(model, input, output, *, column: str | None = None, batch_size: int = 256, device: str = "auto",
               precision: str = "32") -> dict:
    """``chemrnn embed``: one vector per row of ``input`` from a property model's RNN, to ``output``: ``.npy``
    (the vectors) or ``.parquet`` (line, smiles, the input's other columns, error, warning, f0 …); NaN rows where
    there is no vector. Returns the outcome counts, their ``summary`` and the vectors' ``width``."""
    output = Path(output)
    parquet = output.suffix == ".parquet"
    if not parquet and output.suffix != ".npy":
        raise InputError("output must end in .npy or .parquet", output)
    predictor = PropertyPredictor(model, precision, batch_size=batch_size, device=device)
    rows = input_rows(input, column)
    res = predictor.embeddings([r.smiles for r in rows])
    errors = [r.error or why for r, why in zip(rows, res.errors)]  # a line the reader rejected says why
    vectors = res.vectors
    if parquet:
        import pandas as pd

        features = [f"f{i}" for i in range(vectors.shape[1])]
        names, extra = _input_fields(input, column, rows, {"line", "smiles", "error", "warning", *features})
        head = {"line": [r.line for r in rows], "smiles": [r.smiles for r in rows]}
        head.update({n: [e[k] for e in extra] for k, n in enumerate(names)})
        head.update({"error": errors, "warning": res.warnings})
        df = pd.concat([pd.DataFrame(head), pd.DataFrame(vectors, columns=features)], axis=1)
        with atomic_write(output, "wb") as fh:
            df.to_parquet(fh)
    else:
        with atomic_write(output, "wb") as fh:
            np.save(fh, vectors)
    counts = outcome_counts(errors, res.warnings)
    return {**counts, "summary": outcome_summary(counts), "width": int(vectors.shape[1])}
