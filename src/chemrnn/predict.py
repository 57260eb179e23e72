"""Using a trained property model: :class:`PropertyPredictor` loads a model once and predicts or embeds many
batches (the form a scoring function in the design loop needs), plus the one-call helpers behind the CLI.

Every input string gets a row. A SMILES that RDKit cannot read gets no value and its reason; so does a molecule
with tokens the model never saw in training (``[Se]``, ``[U]`` …): a recurrent model would read them as
``<unk>`` and answer with a confident, meaningless number, so chemrnn refuses to (issue: a command line that never
misleads). Molecules longer than any the model was trained on get a value and a warning.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import chem
from .batching import by_length
from .models.property import load_property_model
from .utils import inference_precision


@dataclass
class Predictions:
    """Values ``[n, targets]`` (NaN where there is none), a reason per row without a value ("" otherwise) and a
    warning per row ("" when none)."""

    values: np.ndarray
    errors: list[str]
    warnings: list[str]
    targets: list[str]
    counts: dict = field(default_factory=dict)


class PropertyPredictor:
    """A property model loaded once, to predict or embed many batches of SMILES.

    ``model``: a model file or directory, or ``shipped`` (the packaged ZINC250k logP/TPSA model).
    ``precision``: ``auto`` | ``32`` | ``bf16`` (see :func:`chemrnn.utils.inference_precision`).
    """

    def __init__(self, model="shipped", precision: str = "auto", impl: str = "fused", batch_size: int = 256):
        self.model, self.vocabulary, self.tokenizer, self.meta = load_property_model(model, impl=impl)
        self.path = str(model)
        self.targets: list[str] = list(self.meta["targets"])
        self.mean = np.array(self.meta["scaling"]["mean"])
        self.std = np.array(self.meta["scaling"]["std"])
        self.precision, self.batch_size = precision, batch_size
        inference_precision(precision)  # a bad value fails here, before any work
        self.max_tokens = self.meta.get("training", {}).get("max_tokens")

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
        # canonical forms were checked in _parse; a randomized variant may spell a stereo atom the other way round
        return np.array(self.vocabulary.encode(self.tokenizer.tokenize(smiles), unknown="unk"))

    # ------------------------------------------------------------------------------------ use
    def predict(self, smiles: list[str], augment: int = 0, seed: int = 0) -> Predictions:
        """Predictions in the targets' units. ``augment > 0`` also averages over that many randomized SMILES of
        each molecule."""
        canon, errors, warnings = self._parse(list(smiles))
        ok = [i for i, c in enumerate(canon) if c is not None]
        out = np.full((len(canon), len(self.targets)), np.nan)
        if ok:
            variants = [[canon[i]] + (chem.randomized(canon[i], augment, seed=seed) if augment else []) for i in ok]
            per = 1 + augment if augment else 1
            variants = [(v + [v[0]] * per)[:per] for v in variants]  # a molecule with fewer variants repeats
            flat = [self._ids(s) for v in variants for s in v]
            with inference_precision(self.precision):
                z = by_length(self.model, flat, len(self.targets), self.model.config.pad_id, self.batch_size)
            out[ok] = z.reshape(len(ok), per, -1).mean(1) * self.std + self.mean
        unseen = sum(1 for e in errors if e.startswith("tokens the model never saw"))
        counts = {"rows": len(canon), "predicted": len(ok), "invalid": len(canon) - len(ok) - unseen,
                  "unseen_tokens": unseen, "warnings": sum(1 for w in warnings if w)}
        return Predictions(out, errors, warnings, self.targets, counts)

    def __call__(self, smiles: list[str]) -> np.ndarray:
        """Values ``[n, targets]`` (NaN where there is none): the form a scoring function takes."""
        return self.predict(smiles).values

    @property
    def embedding_width(self) -> int:
        return self.model.embedding_width

    def embed(self, smiles: list[str]) -> tuple[np.ndarray, list[str]]:
        """Pooled RNN vectors ``[n, width]`` (NaN rows where there is no prediction) and the reasons."""
        canon, errors, _ = self._parse(list(smiles))
        ok = [i for i, c in enumerate(canon) if c is not None]
        out = np.full((len(canon), self.embedding_width), np.nan, dtype=np.float32)
        if ok:
            with inference_precision(self.precision):
                out[ok] = by_length(self.model.embed, [self._ids(canon[i]) for i in ok], self.embedding_width,
                                    self.model.config.pad_id, self.batch_size)
        return out, errors


# --------------------------------------------------------------------------------------- one call
def predict_smiles(model_path, smiles: list[str], augment: int = 0, seed: int = 0, precision: str = "auto"):
    """Predictions ``[n, targets]`` (NaN where there is none), the reason for each missing one, and the targets."""
    p = PropertyPredictor(model_path, precision).predict(smiles, augment, seed)
    return p.values, p.errors, p.targets


def embed_smiles(model_path, smiles: list[str], precision: str = "32") -> tuple[np.ndarray, list[str]]:
    """Pooled RNN vectors ``[n, width]`` (NaN rows for unusable SMILES) and the reasons."""
    return PropertyPredictor(model_path, precision).embed(smiles)


def evaluate_property_model(model_path, source, output, column: str | None = None) -> dict:
    """Metrics per target, parity plots (PNG) and MAE by heavy-atom count on a labelled file."""
    from .labels import load_labelled
    from .metrics import regression_metrics
    from .runinfo import write_json
    from .utils import pyplot, save_fig

    predictor = PropertyPredictor(model_path)
    targets = predictor.targets
    smiles, Y, rejects = load_labelled(source, targets, column)
    pred = predictor(smiles)
    scored = np.isfinite(pred).all(1)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    sizes = np.array(chem.heavy_atoms(smiles))
    res: dict = {"_n": int(scored.sum()), "_rejected": len(rejects), "_no_prediction": int((~scored).sum())}
    Y, pred, sizes = Y[scored], pred[scored], sizes[scored]
    plt = pyplot()
    for k, t in enumerate(targets):
        res[t] = regression_metrics(Y[:, k], pred[:, k])
        bins = [(0, 15), (16, 20), (21, 25), (26, 30), (31, 35), (36, 200)]
        res[t]["MAE_by_heavy_atoms"] = {
            f"{lo}-{hi}" if hi < 200 else f"{lo}+": float(np.abs(pred[sel, k] - Y[sel, k]).mean())
            for lo, hi in bins if (sel := (sizes >= lo) & (sizes <= hi)).any()}
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(Y[:, k], pred[:, k], s=3, alpha=0.3)
        lo, hi = float(min(Y[:, k].min(), pred[:, k].min())), float(max(Y[:, k].max(), pred[:, k].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"{t} (RDKit)")
        ax.set_ylabel(f"{t} (predicted)")
        ax.set_title(f"{t}: MAE {res[t]['MAE']:.3f}, R² {res[t]['R2']:.3f}")
        save_fig(fig, output / f"parity_{t}.png")
    write_json(output / "metrics.json", res)
    return res
