"""The diversity filter against mode collapse (Blaschke et al. 2020, "Memory-assisted reinforcement learning for
diverse molecular de novo design"): good molecules are put in buckets by scaffold; once a bucket holds
``bucket_size`` molecules, further molecules of that scaffold score 0, so the agent must move on to other scaffolds.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .. import chem
from .. import validate as v
from ..errors import InputError
from ..options import DIVERSITY_KINDS as KINDS


class DiversityFilter:
    """``apply(canonical, scores)`` → scores with full buckets zeroed; remembers what it has seen.

    ``kind``: ``scaffold`` (Bemis–Murcko), ``generic`` (generic Murcko scaffold), ``identical`` (the molecule
    itself), ``none`` (no filter). Only molecules scoring at least ``min_score`` enter a bucket.
    """

    RULES = {"kind": v.choice(KINDS), "bucket_size": v.integer(1),
             "min_score": v.number(0, 1)}  # scores lie in [0, 1]

    def __init__(self, kind: str = "scaffold", bucket_size: int = 25, min_score: float = 0.4):
        found = v.table_problems({"kind": kind, "bucket_size": bucket_size, "min_score": min_score}, self.RULES,
                                 "diversity filter ")
        if found:
            raise InputError("; ".join(found))
        self.kind, self.bucket_size, self.min_score = kind, bucket_size, min_score
        self.buckets: Counter = Counter()

    def key(self, smiles: str) -> str | None:
        if self.kind == "scaffold":
            return chem.murcko_scaffold(smiles)
        if self.kind == "generic":
            return chem.generic_scaffold(smiles)
        return smiles

    def apply(self, canonical: list[str | None], scores: np.ndarray) -> np.ndarray:
        out = np.asarray(scores, dtype=float).copy()
        if self.kind == "none":
            return out
        for i, c in enumerate(canonical):
            if c is None or out[i] < self.min_score:
                continue
            k = self.key(c)
            if self.buckets[k] >= self.bucket_size:
                out[i] = 0.0
            self.buckets[k] += 1
        return out

    def state(self) -> dict:
        return {"buckets": dict(self.buckets)}

    def restore(self, state: dict) -> None:
        self.buckets = Counter(state.get("buckets", {}))
