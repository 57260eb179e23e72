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

``workers = N`` scores the molecules of a call in N forked processes (components that run their own processes —
docking — keep them); ``timeout = S`` gives each molecule S seconds there (it is then scored alone, one task a
molecule): one that runs longer fails with the reason and scores 0, and the run goes on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import chem
from .. import validate as v
from ..errors import InputError
from .components import make_component
from .processes import each_in_process, one_thread

AGGREGATIONS = ("arithmetic", "geometric")
JOURNAL_CHUNK = 8  # molecules scored between two journal writes where an external program scores them


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
                 cache: bool = True, *, workers: int = 1, timeout: float | None = None):
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
        found = v.integer(1).problem("workers", workers) or (
            timeout is not None and v.positive().problem("timeout", timeout))
        if found:
            raise InputError(f"[scoring]: {found[0]}")
        self.workers, self.timeout = int(workers), None if timeout is None else float(timeout)
        self.can_fail = timeout is not None or any(getattr(c[2], "can_fail", False) for c in components)
        self.chunked = timeout is not None or any(getattr(c[2], "journal_in_chunks", False) for c in components)
        # where new cache entries go as soon as they are computed (a design run's score_cache.csv), so that a kill
        # costs little work: docking hands over each molecule as its docking ends (all of a call's molecules dock in
        # one go), an external program is run JOURNAL_CHUNK molecules at a time
        self.journal = None

    @classmethod
    def from_config(cls, config: dict) -> "ScoringFunction":
        config = dict(config)
        keys = ("aggregation", "component", "cache", "workers", "timeout")
        bad = set(config) - set(keys)
        if bad:
            raise InputError(f"[scoring]: unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(keys)}")
        comps = config.get("component")
        if not isinstance(comps, list) or not comps:
            raise InputError("[scoring] needs at least one [[scoring.component]] table")
        return cls([make_component(c) for c in comps], config.get("aggregation", "arithmetic"),
                   config.get("cache", True), workers=config.get("workers", 1), timeout=config.get("timeout"))

    def aggregate(self, desirability: np.ndarray) -> np.ndarray:
        """Weighted mean over components (columns) of desirabilities ``[n, k]``."""
        w = self.weights / self.weights.sum()
        if self.aggregation == "arithmetic":
            return desirability @ w
        return np.exp(np.log(np.maximum(desirability, 1e-12)) @ w) * (desirability > 0).all(1)

    def _compute(self, smiles: list[str], each=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str | None]]:
        """Every component's raw value, desirability and the total of ``smiles``. With ``each``, the last component
        that streams its values (docking: :meth:`~chemrnn.scoring.components.Docking.stream`) runs after the others,
        and ``each(i, row)`` receives molecule ``i``'s finished ``(total, desirabilities, raw values, failure)`` the
        moment its value comes, so that a caller can keep it before the slowest molecule is done."""
        mols = [chem.mol(s) for s in smiles]
        failed: list[str | None] = [None] * len(smiles)
        raw = np.full((len(smiles), len(self.components)), np.nan)
        pooled = [k for k, c in enumerate(self.components) if not getattr(c[2], "runs_processes", False)]
        streamed = [k for k, c in enumerate(self.components) if hasattr(c[2], "stream")]
        last = streamed[-1] if each is not None and streamed else None
        if self.workers > 1 or self.timeout is not None:
            raw[:, pooled], why = _in_processes(self, pooled, smiles)
            failed = [a or b for a, b in zip(failed, why)]
        for k, (name, _, comp, _) in enumerate(self.components):
            if k == last or (k in pooled and (self.workers > 1 or self.timeout is not None)):
                continue
            raw[:, k] = comp.raw(mols, smiles)
            for i, reason in getattr(comp, "failures", {}).items():
                failed[i] = failed[i] or f"{name}: {reason}"
        if last is None:
            des = np.stack([c[3](raw[:, k]) for k, c in enumerate(self.components)], 1)
            total = self.aggregate(des)
            total[[i for i, f in enumerate(failed) if f]] = 0.0
            return total, des, raw, failed
        name = self.names[last]
        total, des = np.zeros(len(smiles)), np.zeros((len(smiles), len(self.components)))
        pending = set(range(len(smiles)))
        for i, value, reason in self.components[last][2].stream(mols, smiles):
            raw[i, last] = value
            failed[i] = failed[i] or (f"{name}: {reason}" if reason else None)
            each(i, self._finish(i, raw, des, total, failed))
            pending.discard(i)
        for i in sorted(pending):  # molecules the component skipped (RDKit could not read them): no value
            each(i, self._finish(i, raw, des, total, failed))
        return total, des, raw, failed

    def _finish(self, i: int, raw: np.ndarray, des: np.ndarray, total: np.ndarray, failed: list) -> tuple:
        """Molecule ``i``'s desirabilities and total from its raw values, written into ``des`` and ``total``."""
        des[i] = [c[3](raw[i: i + 1, k])[0] for k, c in enumerate(self.components)]
        total[i] = 0.0 if failed[i] else self.aggregate(des[i: i + 1])[0]
        return total[i], des[i].copy(), raw[i].copy(), failed[i]

    def score(self, smiles: list[str]) -> Scores:
        """Scores with their parts; invalid strings score 0 and are never passed to a component."""
        canon = [chem.canonical_or_none(s) if s else None for s in smiles]
        n, k = len(smiles), len(self.components)
        total, des, raw = np.zeros(n), np.zeros((n, k)), np.full((n, k), np.nan)
        failures: list[str | None] = [None] * n
        todo = sorted({c for c in canon if c is not None and (self._cache is None or c not in self._cache)})
        computed: dict = {}
        streams = any(hasattr(c[2], "stream") for c in self.components)
        if todo and self.journal is not None and self._cache is not None and streams:
            def keep(i: int, row: tuple) -> None:  # each molecule in the cache and the journal as it is done
                computed[todo[i]] = self._cache[todo[i]] = row
                self.journal([(todo[i], row)])

            self._compute(todo, each=keep)
            self.calls += len(todo)
            todo = []
        chunk = JOURNAL_CHUNK if self.journal is not None and self.chunked else max(1, len(todo))
        for start in range(0, len(todo), chunk):
            part = todo[start: start + chunk]
            t, d, r, f = self._compute(part)
            self.calls += len(part)
            done = {s: (t[i], d[i], r[i], f[i]) for i, s in enumerate(part)}
            computed.update(done)
            if self._cache is not None:
                self._cache.update(done)
                self._fresh += list(done.items())
                if self.journal is not None:
                    self.journal(self.take_fresh())
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


_FORKED: list = []  # the scoring function a pool's forked workers inherit (its modifiers cannot be pickled)


def _raw_part(columns: list[int], smiles: list[str]) -> tuple[np.ndarray, list]:
    """The raw values of ``columns`` for ``smiles`` and each molecule's failure (run in a worker process)."""
    scoring = _FORKED[-1]
    mols = [chem.mol(s) for s in smiles]
    raw, failed = np.full((len(smiles), len(columns)), np.nan), [None] * len(smiles)
    for j, k in enumerate(columns):
        name, _, comp, _ = scoring.components[k]
        raw[:, j] = comp.raw(mols, smiles)
        for i, reason in getattr(comp, "failures", {}).items():
            failed[i] = failed[i] or f"{name}: {reason}"
    return raw, failed


def _in_processes(scoring: ScoringFunction, columns: list[int], smiles: list[str]) -> tuple[np.ndarray, list]:
    """:func:`_raw_part` over ``scoring.workers`` forked processes: a few chunks a worker, or, with a per-molecule
    timeout, one process a molecule (:func:`_each_in_time`). A worker that dies (killed, out of memory) fails the
    molecules it had, with the reason, instead of stopping the run."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    n = len(smiles)
    if not columns or not n:
        return np.full((n, len(columns)), np.nan), [None] * n
    if scoring.timeout is not None:
        return _each_in_time(scoring, columns, smiles)
    size = max(1, -(-n // (4 * scoring.workers)))
    starts = list(range(0, n, size))
    raw, failed = np.full((n, len(columns)), np.nan), [None] * n
    _FORKED.append(scoring)  # the workers are forked while it is here
    try:
        with ProcessPoolExecutor(min(scoring.workers, len(starts)), multiprocessing.get_context("fork"),
                                 one_thread) as pool:
            futures = [pool.submit(_raw_part, columns, smiles[a: a + size]) for a in starts]
            for a, future in zip(starts, futures):
                stop = min(a + size, n)
                try:
                    raw[a:stop], failed[a:stop] = future.result()
                except BrokenProcessPool:
                    failed[a:stop] = ["a scoring process died (killed or out of memory)"] * (stop - a)
    finally:
        _FORKED.pop()
    return raw, failed


def _each_in_time(scoring: ScoringFunction, columns: list[int], smiles: list[str]) -> tuple[np.ndarray, list]:
    """Each molecule in a forked process of its own, ``scoring.workers`` at a time
    (:func:`~chemrnn.scoring.processes.each_in_process`); a process that runs past ``scoring.timeout`` seconds is
    stopped with the programs it started, and its molecule fails with the reason."""
    raw, failed = np.full((len(smiles), len(columns)), np.nan), [None] * len(smiles)
    _FORKED.append(scoring)
    try:
        for i, part, why in each_in_process(lambda smi: _raw_part(columns, [smi]), smiles, scoring.workers,
                                            scoring.timeout):
            if why:
                failed[i] = why
            else:
                raw[i], failed[i] = part[0][0], part[1][0]
    finally:
        _FORKED.pop()
    return raw, failed
