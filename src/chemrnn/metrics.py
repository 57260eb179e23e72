"""Distribution metrics of generated molecules (MOSES, GuacaMol) and regression metrics.

MOSES (Polykovskiy et al. 2020): validity, unique@k, novelty, FCD, SNN, Frag, Scaf, IntDiv1/2.
GuacaMol (Brown et al. 2019): KL-divergence score over nine RDKit descriptors, exp(−KL) averaged.
Reference statistics (ChemNet mean/covariance, fingerprints, fragment and scaffold counts, descriptors) are
computed once per reference set and cached on disk (npz + JSON, no pickle): ChemNet costs ~10 ms a molecule
on a CPU. Fingerprint similarities run as matrix products of bit matrices.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import chem
from .datasets import cache_dir
from .io import atomic_write
from .utils import pool_map

METRICS_VERSION = 1


# ----------------------------------------------------------------------------------- fingerprints
def _bits(packed: np.ndarray):
    import torch

    return torch.from_numpy(np.unpackbits(packed, axis=1).astype(np.float32))


def tanimoto_max(gen_fps: np.ndarray, ref_fps: np.ndarray, block: int = 4096) -> np.ndarray:
    """For each generated fingerprint, its largest Tanimoto similarity to any reference fingerprint."""
    import torch

    g = _bits(gen_fps)
    gc = g.sum(1)
    best = torch.zeros(len(g))
    for start in range(0, len(ref_fps), block):
        r = _bits(ref_fps[start: start + block])
        inter = g @ r.T
        union = gc[:, None] + r.sum(1)[None, :] - inter
        sim = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
        best = torch.maximum(best, sim.max(1).values)
    return best.numpy()


def internal_diversity(fps: np.ndarray, p: int = 1, block: int = 4096) -> float:
    """MOSES IntDiv_p = 1 − (mean over all pairs (i, j) of T(i, j)^p)^(1/p), pairs including i = j."""
    import torch

    g = _bits(fps)
    gc = g.sum(1)
    total, count = 0.0, 0
    for start in range(0, len(g), block):
        r = g[start: start + block]
        inter = r @ g.T
        union = gc[start: start + block, None] + gc[None, :] - inter
        sim = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
        total += float((sim.double() ** p).sum())
        count += sim.numel()
    return 1.0 - (total / count) ** (1.0 / p)


def cosine_counts(a: Counter, b: Counter) -> float:
    """Cosine similarity of two count vectors (MOSES Frag and Scaf)."""
    keys = set(a) | set(b)
    va = np.array([a.get(k, 0) for k in keys], dtype=float)
    vb = np.array([b.get(k, 0) for k in keys], dtype=float)
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    return float(va @ vb / (na * nb)) if na and nb else 0.0


# --------------------------------------------------------------------------------- KL divergence
def kl_score(gen_desc: np.ndarray, ref_desc: np.ndarray, gen_fps=None, ref_fps=None) -> tuple[float, dict]:
    """GuacaMol KL-divergence score: mean of exp(−KL(ref ‖ gen)) over descriptors.

    Discrete descriptors use histograms on the integer values seen; continuous ones Gaussian KDEs evaluated on
    1,000 points spanning both sets. With fingerprints, the distribution of each set's nearest-neighbour
    internal similarity is one more continuous term, as in GuacaMol.
    """
    from scipy.stats import entropy, gaussian_kde

    per = {}
    for k, (name, kind) in enumerate(chem.KL_DESCRIPTORS):
        p, q = ref_desc[:, k], gen_desc[:, k]
        if kind == "discrete":
            hi = int(max(p.max(), q.max())) + 1
            hp = np.bincount(p.astype(int).clip(0), minlength=hi) + 1e-10
            hq = np.bincount(q.astype(int).clip(0), minlength=hi) + 1e-10
            per[name] = float(entropy(hp, hq))
        else:
            per[name] = _kde_kl(p, q, gaussian_kde, entropy)
    if gen_fps is not None and ref_fps is not None:
        per["internal_similarity"] = _kde_kl(_nn_internal(ref_fps), _nn_internal(gen_fps), gaussian_kde, entropy)
    score = float(np.mean([np.exp(-v) for v in per.values()]))
    return score, per


def _kde_kl(p, q, gaussian_kde, entropy) -> float:
    if np.ptp(p) == 0 or np.ptp(q) == 0:
        return 0.0 if np.allclose(p.mean(), q.mean()) else float("inf")
    lo, hi = min(p.min(), q.min()), max(p.max(), q.max())
    grid = np.linspace(lo, hi, 1000)
    return float(entropy(gaussian_kde(p)(grid) + 1e-10, gaussian_kde(q)(grid) + 1e-10))


def _nn_internal(fps: np.ndarray, n: int = 2000) -> np.ndarray:
    """Each molecule's largest Tanimoto similarity to another molecule of the same set (first ``n``)."""
    import torch

    g = _bits(fps[:n])
    gc = g.sum(1)
    inter = g @ g.T
    union = gc[:, None] + gc[None, :] - inter
    sim = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
    sim.fill_diagonal_(0)
    return sim.max(1).values.numpy()


# ----------------------------------------------------------------------------------- references
@dataclass
class Features:
    """Per-molecule features of a set of valid canonical SMILES."""

    smiles: list[str]
    fps: np.ndarray  # packed Morgan bits [n, 128]
    frags: Counter
    scaffolds: Counter
    descriptors: np.ndarray  # [n, 9]

    @classmethod
    def compute(cls, smiles: list[str], jobs: int = 0) -> "Features":
        jobs = jobs or os.cpu_count() or 1
        feats = pool_map(chem.metric_features_batch, list(smiles), jobs)
        keep = [(s, f) for s, f in zip(smiles, feats) if f is not None]
        frags, scafs = Counter(), Counter()
        for _, f in keep:
            frags.update(f["frags"])
            scafs[f["scaffold"]] += 1
        if not keep:
            raise ValueError("no valid molecule to compute features of")
        return cls([s for s, _ in keep], np.stack([f["fp"] for _, f in keep]), frags, scafs,
                   np.array([f["descriptors"] for _, f in keep], dtype=float))


@dataclass
class Reference:
    """Cached statistics of a reference set (e.g. a random draw of MOSES test)."""

    name: str
    smiles_sha256: str
    features: Features
    fcd_mu: np.ndarray | None
    fcd_sigma: np.ndarray | None

    def save(self, path: str | os.PathLike) -> None:
        meta = {"format": "chemrnn-reference", "schema": METRICS_VERSION, "name": self.name,
                "smiles_sha256": self.smiles_sha256, "smiles": self.features.smiles,
                "frags": dict(self.features.frags), "scaffolds": dict(self.features.scaffolds)}
        arrays = {"fps": self.features.fps, "descriptors": self.features.descriptors,
                  "meta": np.array(json.dumps(meta))}
        if self.fcd_mu is not None:
            arrays.update(fcd_mu=self.fcd_mu, fcd_sigma=self.fcd_sigma)
        with atomic_write(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Reference":
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            mu = z["fcd_mu"] if "fcd_mu" in z else None
            sigma = z["fcd_sigma"] if "fcd_sigma" in z else None
            feats = Features(meta["smiles"], z["fps"], Counter(meta["frags"]), Counter(meta["scaffolds"]),
                             z["descriptors"])
        return cls(meta["name"], meta["smiles_sha256"], feats, mu, sigma)


def smiles_digest(smiles: list[str]) -> str:
    h = hashlib.sha256()
    for s in smiles:
        h.update(s.encode() + b"\n")
    return h.hexdigest()


def reference_cache(smiles: list[str], fcd: bool = True) -> Path:
    """Where :func:`reference` caches the statistics of canonical ``smiles`` (exists once they were computed)."""
    digest = smiles_digest(smiles)
    return cache_dir() / "references" / f"{digest[:24]}_v{METRICS_VERSION}{'_fcd' if fcd else ''}.npz"


def reference(smiles: list[str], name: str = "reference", fcd: bool = True, cache: bool = True,
              jobs: int = 0) -> Reference:
    """Reference statistics for canonical ``smiles``, from the disk cache when they were computed before."""
    digest = smiles_digest(smiles)
    path = reference_cache(smiles, fcd)
    if cache and path.exists():
        return Reference.load(path)
    feats = Features.compute(smiles, jobs)
    mu = sigma = None
    if fcd:
        mu, sigma = chemnet_stats(feats.smiles)
    ref = Reference(name, digest, feats, mu, sigma)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        ref.save(path)
    return ref


# ------------------------------------------------------------------------------------------- FCD
def chemnet_stats(smiles: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ChemNet's penultimate activations (the `fcd` package's weights)."""
    import warnings

    import fcd
    import torch

    model = fcd.load_ref_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        act = fcd.get_predictions(model, list(smiles), batch_size=256, device=device)
    return act.mean(0), np.cov(act.T)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    import fcd

    return float(fcd.utils.calculate_frechet_distance(mu1=mu1, sigma1=sigma1, mu2=mu2, sigma2=sigma2))


# ------------------------------------------------------------------------------------- evaluation
def evaluate(generated: list[str], ref: Reference, train: set[str] | None = None, fcd: bool = True,
             jobs: int = 0, ks=(1000, 10000)) -> dict:
    """All distribution metrics of ``generated`` (raw sampled strings) against a reference set.

    validity = valid / all; unique@k = unique canonical among the first k valid; novelty = unique valid not in
    ``train`` / unique valid, with ``train_molecules`` the size of ``train`` (no novelty against an empty training
    set: every molecule would be "novel"); FCD, SNN, Frag, Scaf, KL score against ``ref``; IntDiv1/2 within the set.
    """
    t0 = time.perf_counter()
    timings = {}
    canon = chem.canonical_all(generated, jobs)
    valid = [c for c in canon if c is not None]
    out: dict = {"n": len(generated), "validity": len(valid) / len(generated) if generated else 0.0}
    for k in ks:
        if len(valid) >= k:
            out[f"unique@{k // 1000}k" if k % 1000 == 0 else f"unique@{k}"] = len(set(valid[:k])) / k
    unique = list(dict.fromkeys(valid))
    out["unique"] = len(unique) / len(valid) if valid else 0.0
    if train and unique:
        out["novelty"] = sum(s not in train for s in unique) / len(unique)
    if train:
        out["train_molecules"] = len(train)
    timings["parse"] = time.perf_counter() - t0
    if not valid:
        return out
    t = time.perf_counter()
    feats = Features.compute(valid, jobs)
    timings["features"] = time.perf_counter() - t
    t = time.perf_counter()
    out["SNN"] = float(tanimoto_max(feats.fps, ref.features.fps).mean())
    out["Frag"] = cosine_counts(feats.frags, ref.features.frags)
    out["Scaf"] = cosine_counts(feats.scaffolds, ref.features.scaffolds)
    out["IntDiv1"] = internal_diversity(feats.fps, 1)
    out["IntDiv2"] = internal_diversity(feats.fps, 2)
    out["KL_score"], out["KL_terms"] = kl_score(feats.descriptors, ref.features.descriptors, feats.fps,
                                                ref.features.fps)
    timings["similarity"] = time.perf_counter() - t
    if fcd and ref.fcd_mu is not None:
        t = time.perf_counter()
        mu, sigma = chemnet_stats(valid)
        out["FCD"] = frechet_distance(mu, sigma, ref.fcd_mu, ref.fcd_sigma)
        timings["fcd"] = time.perf_counter() - t
    out["seconds"] = {k: round(v, 2) for k, v in timings.items()}
    out["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    out["_features"] = feats
    return out


# ------------------------------------------------------------------------------------- regression
def regression_metrics(y_true, y_pred) -> dict:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    err = y_pred - y_true
    ss_res = float((err ** 2).sum())
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    return {"MAE": float(np.abs(err).mean()), "RMSE": float(np.sqrt((err ** 2).mean())),
            "R2": 1 - ss_res / ss_tot if ss_tot else float("nan"), "n": int(len(y_true))}
