"""A scoring function: components, each through its modifier, aggregated by a weighted arithmetic or geometric
mean into one score in [0, 1] per molecule. Invalid molecules score 0; scores are cached per canonical SMILES.

Config (the ``[scoring]`` table of a design run, TOML)::

    [scoring]
    aggregation = "geometric"            # or "arithmetic"
    [[scoring.component]]
    type = "similarity"
    smiles = ["CC(=O)Oc1ccccc1C(=O)O"]
    modifier = { type = "threshold", threshold = 0.7 }
    [[scoring.component]]
    type = "descriptor"
    descriptor = "logP"
    weight = 0.5
    modifier = { type = "window", low = 1, high = 3, decay = 1 }
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import chem
from ..errors import InputError
from .components import make_component

AGGREGATIONS = ("arithmetic", "geometric")


@dataclass
class Scores:
    """Per molecule: the total score, each component's desirability and raw value, and the canonical SMILES
    (None where invalid)."""

    total: np.ndarray
    components: dict[str, np.ndarray]
    raw: dict[str, np.ndarray]
    canonical: list[str | None]
    # why a component could not score a molecule (an external program's exit, timeout, missing line), else None:
    # such a molecule scores 0
    failures: list[str | None] | None = None


class ScoringFunction:
    """``f(smiles) -> scores in [0, 1]``; see the module docstring for the config."""

    def __init__(self, components: list[tuple[str, float, object, object]], aggregation: str = "arithmetic",
                 cache: bool = True):
        if aggregation not in AGGREGATIONS:
            raise InputError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, not {aggregation!r}")
        if not components:
            raise InputError("a scoring function needs at least one component")
        names = [c[0] for c in components]
        if len(set(names)) != len(names):
            raise InputError(f"component names must be unique (give each a name): {', '.join(names)}")
        self.components, self.aggregation = components, aggregation
        self.names = names
        self.weights = np.array([c[1] for c in components], dtype=float)
        if self.weights.sum() <= 0:
            raise InputError("the component weights sum to 0")
        self._cache: dict[str, tuple[float, np.ndarray, np.ndarray, str | None]] | None = {} if cache else None
        self.calls = 0  # molecules scored without the cache: the budget of a design run counts these
        self.hits = 0  # molecules served from the cache
        self._fresh: list[tuple[str, tuple]] = []  # entries computed since the last take_fresh()
        self.can_fail = any(getattr(c[2], "can_fail", False) for c in components)

    @classmethod
    def from_config(cls, config: dict) -> "ScoringFunction":
        config = dict(config)
        bad = set(config) - {"aggregation", "component", "cache"}
        if bad:
            raise InputError(f"[scoring]: unknown key(s) {', '.join(sorted(bad))}; valid: aggregation, component, "
                             f"cache")
        comps = config.get("component")
        if not isinstance(comps, list) or not comps:
            raise InputError("[scoring] needs at least one [[scoring.component]] table")
        return cls([make_component(c) for c in comps], config.get("aggregation", "arithmetic"),
                   config.get("cache", True))

    def aggregate(self, desirability: np.ndarray) -> np.ndarray:
        """Weighted mean over components (columns) of desirabilities ``[n, k]``."""
        w = self.weights / self.weights.sum()
        if self.aggregation == "arithmetic":
            return desirability @ w
        return np.exp(np.log(np.maximum(desirability, 1e-12)) @ w) * (desirability > 0).all(1)

    def _compute(self, smiles: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str | None]]:
        mols = [chem.mol(s) for s in smiles]
        failed: list[str | None] = [None] * len(smiles)
        columns = []
        for name, _, comp, _ in self.components:
            columns.append(comp.raw(mols, smiles))
            for i, reason in getattr(comp, "failures", {}).items():
                failed[i] = failed[i] or f"{name}: {reason}"
        raw = np.stack(columns, 1)
        des = np.stack([c[3](raw[:, k]) for k, c in enumerate(self.components)], 1)
        total = self.aggregate(des)
        total[[i for i, f in enumerate(failed) if f]] = 0.0
        return total, des, raw, failed

    def score(self, smiles: list[str]) -> Scores:
        """Scores with their parts; invalid strings score 0 and are never passed to a component."""
        canon = [chem.canonical_or_none(s) if s else None for s in smiles]
        n, k = len(smiles), len(self.components)
        total, des, raw = np.zeros(n), np.zeros((n, k)), np.full((n, k), np.nan)
        failures: list[str | None] = [None] * n
        todo = sorted({c for c in canon if c is not None and (self._cache is None or c not in self._cache)})
        if todo:
            t, d, r, f = self._compute(todo)
            self.calls += len(todo)
            computed = {s: (t[i], d[i], r[i], f[i]) for i, s in enumerate(todo)}
            if self._cache is not None:
                self._cache.update(computed)
                self._fresh += list(computed.items())
        else:
            computed = {}
        self.hits += sum(1 for c in canon if c is not None and c not in computed)
        for i, c in enumerate(canon):
            if c is None:
                continue
            total[i], des[i], raw[i], failures[i] = computed[c] if c in computed else self._cache[c]
        return Scores(total, {nm: des[:, j] for j, nm in enumerate(self.names)},
                      {nm: raw[:, j] for j, nm in enumerate(self.names)}, canon, failures)

    # ------------------------------------------------------------------ the cache kept beside a design run
    def take_fresh(self) -> list[tuple[str, tuple]]:
        """The cache entries computed since the last call (a run that keeps them writes :meth:`cache_rows`)."""
        fresh, self._fresh = self._fresh, []
        return fresh

    @staticmethod
    def cache_rows(entries: list[tuple[str, tuple]]) -> list[list[str]]:
        """Cache entries as rows of text (canonical SMILES, total, failure, each component's desirability, each
        component's raw value; floats written exactly), which :meth:`load_rows` reads back on resume."""
        return [[c, repr(float(t)), f or "", *map(repr, map(float, d)), *map(repr, map(float, r))]
                for c, (t, d, r, f) in entries]

    def cache_header(self) -> list[str]:
        return ["canonical", "total", "failure", *(f"des:{n}" for n in self.names), *(f"raw:{n}" for n in self.names)]

    def load_rows(self, rows: list[list[str]]) -> int:
        """Fill the cache from :meth:`take_fresh`'s rows (a resumed run scores none of them again); returns how many."""
        if self._cache is None:
            return 0
        k = len(self.names)
        for row in rows:
            c, t, f = row[0], float(row[1]), row[2] or None
            d = np.array([float(x) for x in row[3:3 + k]])
            r = np.array([float(x) for x in row[3 + k:3 + 2 * k]])
            self._cache[c] = (t, d, r, f)
        return len(rows)

    def __call__(self, smiles: list[str]) -> np.ndarray:
        return self.score(list(smiles)).total
