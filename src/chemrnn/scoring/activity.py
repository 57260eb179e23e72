"""A target-activity model: p(active | molecule) from a random forest on hashed Morgan counts — the "target
prediction model" that scores molecules in Segler et al.'s design cycle (2018, section "Simulating the design
cycle"), trained on a target's actives against decoys (random ChEMBL molecules, assumed inactive).

The forest is trained with scikit-learn, then its trees are stored as plain arrays (safetensors + JSON, like every
chemrnn model; nothing is pickled) and evaluated here with NumPy, so that loading never runs pickled code and
scoring does not need scikit-learn.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import chem
from ..datasets import resolve_input, smiles_column
from ..errors import InputError
from ..io import check_writable, load_smiles_list, read_rows, sha256_of, write_rejects


@dataclass
class ActivityConfig:
    radius: int = 2
    n_bits: int = 2048
    n_trees: int = 200
    decoy_ratio: float = 5.0  # decoys per active
    folds: int = 5
    seed: int = 0
    jobs: int = 0


def featurize(mols: list) -> tuple[np.ndarray, np.ndarray]:
    """Morgan count vectors ``[n, n_bits]`` (uint8) of the valid molecules and the mask of which were valid."""
    ok = np.array([m is not None for m in mols], dtype=bool)
    rows = [chem.morgan_counts(m) for m in mols if m is not None]
    return (np.stack(rows) if rows else np.zeros((0, 2048), np.uint8)), ok


def _forest_arrays(forest) -> dict[str, np.ndarray]:
    """The fitted trees of a scikit-learn forest as concatenated arrays with absolute child indices."""
    feats, thr, left, right, p, roots = [], [], [], [], [], []
    offset = 0
    for est in forest.estimators_:
        t = est.tree_
        leaf = t.children_left == -1
        feats.append(np.where(leaf, 0, t.feature).astype(np.int32))
        thr.append(t.threshold.astype(np.float32))
        left.append(np.where(leaf, np.arange(t.node_count), t.children_left).astype(np.int32) + offset)
        right.append(np.where(leaf, np.arange(t.node_count), t.children_right).astype(np.int32) + offset)
        v = t.value[:, 0, :]
        p.append((v[:, 1] / np.maximum(v.sum(1), 1e-12)).astype(np.float32))
        roots.append(offset)
        offset += t.node_count
    cat = np.concatenate
    return {"feature": cat(feats), "threshold": cat(thr), "left": cat(left), "right": cat(right),
            "p_active": cat(p), "roots": np.array(roots, dtype=np.int32)}


def forest_predict(arrays: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Mean leaf p(active) over the trees: scikit-learn's ``predict_proba(X)[:, 1]`` for the same forest."""
    X = np.asarray(X, dtype=np.float32)
    rows = np.arange(len(X))[:, None]
    node = np.broadcast_to(arrays["roots"], (len(X), len(arrays["roots"]))).copy()
    left, right, feat, thr = arrays["left"], arrays["right"], arrays["feature"], arrays["threshold"]
    while True:
        nxt = np.where(X[rows, feat[node]] <= thr[node], left[node], right[node])
        if np.array_equal(nxt, node):
            break
        node = nxt
    return arrays["p_active"][node].mean(1).astype(float)


class ActivityModel:
    """A loaded activity model; ``predict(smiles)`` gives p(active), NaN for invalid SMILES."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict):
        self.arrays, self.meta = arrays, meta
        self.radius, self.n_bits = meta["config"]["radius"], meta["config"]["n_bits"]

    def predict_mols(self, mols: list) -> np.ndarray:
        out = np.full(len(mols), np.nan)
        ok = [i for i, m in enumerate(mols) if m is not None]
        if ok:
            X = np.stack([chem.morgan_counts(mols[i], self.radius, self.n_bits) for i in ok])
            out[ok] = forest_predict(self.arrays, X)
        return out

    def predict(self, smiles: list[str]) -> np.ndarray:
        return self.predict_mols([chem.mol(s) for s in smiles])

    def save(self, path) -> Path:
        import torch

        from ..models import modelfile

        return modelfile.save(path, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.arrays.items()},
                              self.meta)

    @classmethod
    def load(cls, path) -> "ActivityModel":
        from ..models import modelfile

        state, meta = modelfile.load(path)
        if meta.get("kind") != "activity":
            raise InputError(f"is a {meta.get('kind')} model, not an activity model", path)
        return cls({k: v.numpy() for k, v in state.items()}, meta)


def _valid_canonical(smiles: list[str]) -> list[str]:
    return sorted({c for c in chem.canonical_all(smiles) if c})


NO_CARBON = "no carbon atom (an element, ion or inorganic salt, not an organic active)"


@dataclass
class Screened:
    """What became of each active: the distinct valid organic molecules (canonical SMILES, sorted), the rejected
    ones as ``(index, reason)`` (blank, invalid SMILES, no carbon atom) and the number of repeats."""

    kept: list[str]
    rejected: list[tuple[int, str]]
    duplicates: int

    def counts(self, rows: int) -> dict:
        """``rows = actives + duplicates + rejected``, with the rejects by reason."""
        reasons: dict[str, int] = {}
        for _, why in self.rejected:
            key = why.split(":", 1)[0]
            reasons[key] = reasons.get(key, 0) + 1
        return {"rows": rows, "actives": len(self.kept), "duplicates": self.duplicates,
                "rejected": len(self.rejected), "reasons": reasons}


def screen_actives(smiles: list[str], errors: list[str] | None = None) -> Screened:
    """Canonicalize the actives; a blank row, an invalid SMILES or a molecule without carbon (``[Xe]``, ``[U]``,
    NaCl) is rejected with its reason, a repeat of an earlier molecule counted. ``errors``: a reason per row that
    could not be read (the file reader's; "" for a readable row)."""
    kept, seen, rejected, dups = [], set(), [], 0
    for i, s in enumerate(smiles):
        if errors and errors[i]:
            rejected.append((i, errors[i]))
            continue
        if not s.strip():
            rejected.append((i, "blank line"))
            continue
        m, why = chem.parse(s)
        if m is None:
            rejected.append((i, why or "invalid SMILES"))
            continue
        if not chem.has_carbon(m):
            rejected.append((i, NO_CARBON))
            continue
        c = chem.canonical(s)[0]
        if c in seen:
            dups += 1
            continue
        seen.add(c)
        kept.append(c)
    return Screened(sorted(kept), rejected, dups)


def describe_counts(counts: dict) -> str:
    """``94 rows: 79 actives, 3 duplicates, 12 rejected (8 invalid chemistry, 4 no carbon atom …)``."""
    why = ", ".join(f"{n:,} {r}" for r, n in sorted(counts["reasons"].items(), key=lambda kv: -kv[1]))
    return (f"{counts['rows']:,} rows: {counts['actives']:,} actives, {counts['duplicates']:,} duplicates, "
            f"{counts['rejected']:,} rejected" + (f" ({why})" if why else ""))


def train_activity_model(actives: list[str], decoys: list[str], config: ActivityConfig = ActivityConfig(),
                         source: dict | None = None, progress=None,
                         screened: Screened | None = None) -> tuple[ActivityModel, dict]:
    """Fit the forest on actives (label 1) vs decoys (label 0; molecules among the actives are removed), report
    ``folds``-fold stratified cross-validated ROC-AUC and PR-AUC, then refit on everything. The actives are
    screened first (:func:`screen_actives`, or ``screened``: its result for ``actives``, made already); the metrics
    count what became of them (``active_rows``)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    say = progress or (lambda msg: None)
    screened = screened or screen_actives(actives)
    counts = screened.counts(len(actives))
    act = screened.kept
    if len(act) < 10:
        where = (source or {}).get("actives", {}).get("path")
        raise InputError(f"need at least 10 valid actives to train an activity model, got {len(act)} "
                         f"({describe_counts(counts)})", where)
    rng = np.random.default_rng(config.seed)
    pool = sorted(set(_valid_canonical(decoys)) - set(act))
    n_dec = min(len(pool), int(round(config.decoy_ratio * len(act))))
    if n_dec < 10:
        raise InputError(f"need at least 10 valid decoys not among the actives, got {n_dec}")
    dec = [pool[i] for i in rng.choice(len(pool), n_dec, replace=False)]
    smiles = act + dec
    X, _ = featurize([chem.mol(s) for s in smiles])
    y = np.r_[np.ones(len(act)), np.zeros(len(dec))]
    t0 = time.perf_counter()

    def forest():
        return RandomForestClassifier(n_estimators=config.n_trees, n_jobs=config.jobs or -1,
                                      random_state=config.seed, class_weight="balanced_subsample",
                                      min_samples_leaf=1, max_features="sqrt")

    cv_pred = np.zeros(len(y))
    folds = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
    for k, (tr, te) in enumerate(folds.split(X, y), 1):
        say(f"cross-validation fold {k}/{config.folds}")
        cv_pred[te] = forest().fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
    say("fitting on all molecules")
    final = forest().fit(X, y)
    arrays = _forest_arrays(final)
    metrics = {"cv_roc_auc": float(roc_auc_score(y, cv_pred)), "cv_pr_auc": float(average_precision_score(y, cv_pred)),
               "actives": len(act), "decoys": len(dec), "folds": config.folds,
               "seconds": round(time.perf_counter() - t0, 1), "active_rows": counts}
    meta = {"kind": "activity", "config": asdict(config), "features": f"Morgan counts r{config.radius}/{config.n_bits}",
            "training": {"metrics": metrics, **(source or {})}}
    return ActivityModel(arrays, meta), metrics


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
