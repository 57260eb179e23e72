"""GuacaMol's generator interface over design runs: :class:`GoalDirectedGenerator` (duck-typed; guacamol is not
needed) and :func:`best_distinct`, the best molecules as GuacaMol counts them."""
from __future__ import annotations

import multiprocessing
import pkgutil
import random
from dataclasses import replace

from .. import chem
from ..datasets import resolve_input, smiles_column
from ..errors import InputError
from ..io import load_smiles_list
from ..scoring import ScoringFunction
from .config import GUACAMOL_HILLCLIMB, DesignConfig
from .run import DesignRun


# Named settings of the generator. "default" is cheap (a few minutes a task on 2 CPU cores); "guacamol" is the
# configuration of the published figure in docs/benchmarks.md (section "GuacaMol goal-directed suite"): the
# SMILES-LSTM hill-climber's protocol — score the whole ChEMBL training set, cleaned of molecules close to GuacaMol's
# ten holdout drugs, start from its best — then 61,440 sampled molecules in rounds of 1,024, a task ending once the
# molecules GuacaMol asks for all score 1.0. About 7 to 20 minutes a task on 2 cores; 2.3 hours for the 20 tasks.
PRESETS: dict[str, dict] = {
    "default": {"optimizer": "reinvent", "prior": "shipped", "budget": 5000, "batch_size": 128, "options": {},
                "diversity_filter": {}, "population": None, "population_size": 0, "population_filter": None,
                "budget_after_population": False, "stop_at": None, "workers": 1},
    "guacamol": {**GUACAMOL_HILLCLIMB, "budget": 61440, "population": "chembl", "population_size": "all",
                 "population_filter": "guacamol", "budget_after_population": True, "stop_at": 1.0, "workers": 2},
}
# GuacaMol removed from its ChEMBL training set every molecule with ECFP4 Tanimoto >= 0.323 to one of its holdout drugs
HOLDOUT_CUTOFF = 0.323
POPULATION_FILTERS = ("guacamol",)
PARALLEL_FROM = 512  # lists shorter than this are scored in the calling process (a fork costs more than they do)


class GoalDirectedGenerator:
    """``generate_optimized_molecules(scoring_function, number_molecules, starting_population=None)``: the interface
    of GuacaMol's ``GoalDirectedGenerator`` (duck-typed; guacamol is not needed), so that GuacaMol's own benchmark can
    drive chemrnn. ``scoring_function`` is a chemrnn :class:`~chemrnn.scoring.ScoringFunction`, any callable taking a
    list of SMILES, or an object with GuacaMol's ``score_list``. Each call runs a fresh in-memory design run of
    ``budget`` scored molecules from the prior (with ``budget_after_population``: ``budget`` sampled molecules after
    the starting population, whatever its size) and returns the best distinct molecules found (stereoisomers count as
    one molecule, as GuacaMol counts them: :func:`best_distinct`).

    ``preset``: the named settings every argument left out takes (:data:`PRESETS`): ``"default"`` (REINVENT from the
    shipped prior, 5,000 scored molecules a task) or ``"guacamol"`` (the published figure's configuration: the
    hill-climber from the ``chembl`` prior, the GuacaMol-cleaned ChEMBL set as starting population, 61,440 sampled
    molecules, 2 scoring processes, ``stop_at=1.0``). Arguments given explicitly override the preset's. No preset
    sets ``quality``: the default filter stays on unless ``quality="none"`` is given (the 18.09 figure had it off).

    ``stop_at``: end a call early once the best ``number_molecules`` distinct molecules all score at least this.
    Give the objective's maximum (GuacaMol's scores lie in [0, 1]: ``stop_at=1.0``): then a task at its maximum
    spends no more budget, and the scores it returns are those the full budget would give (the best found can only
    improve). ``snapshots``: numbers of sampled molecules (after the population; multiples of ``batch_size``) at
    which the scores of the molecules the call would have returned are kept in ``last_snapshots`` — one run gives
    the score at several budgets; marks after an early stop get the final scores. ``quality``: the quality
    filter, a preset name (``default``, ``strict``, ``none``) or a ``[quality]`` table as a dict
    (:mod:`chemrnn.scoring.quality`): a molecule it rejects scores 0 and is never returned.
    ``population``/``population_size``: without a population from the benchmark, draw this many molecules (or
    ``"all"``) from a dataset or file; ``population_filter="guacamol"`` first removes molecules within ECFP4
    Tanimoto 0.323 of GuacaMol's holdout drugs, as GuacaMol cleaned its training set (needs guacamol installed).
    ``workers``: processes scoring lists of 512 molecules or more (the population, large batches)."""

    def __init__(self, optimizer: str | None = None, prior: str | None = None, budget: int | None = None,
                 batch_size: int | None = None, seed: int = 0, options: dict | None = None,
                 diversity_filter: dict | None = None, device: str = "auto", progress=None,
                 population: str | None = None, population_size: int | str | None = None,
                 budget_after_population: bool | None = None, stop_at: float | None = None,
                 snapshots: tuple[int, ...] = (), quality: str | dict = "default", *, preset: str = "default",
                 population_filter: str | None = None, workers: int | None = None):
        if preset not in PRESETS:
            raise InputError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
        given = {"optimizer": optimizer, "prior": prior, "budget": budget, "batch_size": batch_size,
                 "options": options, "diversity_filter": diversity_filter, "population": population,
                 "population_size": population_size, "population_filter": population_filter,
                 "budget_after_population": budget_after_population, "stop_at": stop_at, "workers": workers}
        s = {**PRESETS[preset], **{k: v for k, v in given.items() if v is not None}}
        self.preset, self.settings = preset, s
        self.cfg = DesignConfig(optimizer=s["optimizer"], prior=s["prior"], budget=s["budget"],
                                batch_size=s["batch_size"], seed=seed, device=device, options=dict(s["options"]),
                                quality={"preset": quality} if isinstance(quality, str) else dict(quality),
                                diversity_filter={**DesignConfig().diversity_filter, **s["diversity_filter"]})
        self.cfg.validate()
        if s["population_filter"] not in (None, *POPULATION_FILTERS):
            raise InputError(f"population_filter must be one of {', '.join(POPULATION_FILTERS)} or None, "
                             f"not {s['population_filter']!r}")
        size = s["population_size"]
        if not (size == "all" or (isinstance(size, int) and not isinstance(size, bool) and size >= 0)):
            raise InputError(f"population_size must be a whole number ≥ 0 or 'all', not {size!r}")
        if not isinstance(s["workers"], int) or isinstance(s["workers"], bool) or s["workers"] < 1:
            raise InputError(f"workers must be a whole number ≥ 1, not {s['workers']!r}")
        self.progress = progress
        self.population, self.population_size = s["population"], size
        self.population_filter, self.workers = s["population_filter"], s["workers"]
        self.budget_after_population = bool(s["budget_after_population"])
        self.stop_at = s["stop_at"]
        self.snapshots = tuple(sorted(snapshots))
        self._quality_seen: dict[str, str | None] = {}  # canonical SMILES → the quality filter's reason
        self._pool: list[str] | None = None  # the (cleaned) population source, read once
        self.population_removed = 0  # molecules the population filter removed (invalid ones included)
        self.last_run: DesignRun | None = None
        self.last_population = 0  # the size of the last call's starting population
        bad = [m for m in self.snapshots if m <= 0 or m % self.cfg.batch_size or m > self.cfg.budget]
        if bad:
            raise InputError(f"snapshots must be positive multiples of the batch size ({self.cfg.batch_size}) "
                             f"within the budget ({self.cfg.budget}), not {bad}")
        self.last_snapshots: dict[int, list[float]] = {}  # sampled molecules → the best distinct molecules' scores

    def population_pool(self) -> list[str]:
        """The molecules of ``population`` (cleaned by ``population_filter``), read once per generator."""
        if self._pool is None:
            pool = load_smiles_list(resolve_input(self.population), smiles_column(self.population))
            if self.population_filter == "guacamol":
                kept = chem.far_from(pool, guacamol_holdout(), HOLDOUT_CUTOFF)
                self.population_removed = len(pool) - len(kept)
                pool = kept
            self._pool = pool
        return self._pool

    def starting_molecules(self, given: list[str] | None) -> list[str]:
        """The benchmark's starting population if it gives one, else a seeded random draw of ``population_size``
        molecules from the dataset or file ``population`` (e.g. ``chembl``, as GuacaMol's hill-climber starts from
        its training set); the draw is scored and counted in the budget."""
        if given:
            return list(given)
        if not self.population or not self.population_size:
            return []
        pool = self.population_pool()
        if self.population_size == "all":
            return list(pool)
        return random.Random(self.cfg.seed).sample(pool, min(self.population_size, len(pool)))

    def generate_optimized_molecules(self, scoring_function, number_molecules: int,
                                     starting_population: list[str] | None = None) -> list[str]:
        score = scoring_function
        if hasattr(scoring_function, "score_list"):
            score = scoring_function.score_list  # GuacaMol scores invalid molecules -1: clipped to 0
        if self.workers > 1 and not isinstance(score, ScoringFunction):
            score = ParallelScore(score, self.workers)
        start = self.starting_molecules(starting_population)
        self.last_population = len(start)
        cfg = self.cfg
        if self.budget_after_population:
            cfg = replace(cfg, budget=cfg.budget + len(start))
        # one population, many tasks: each molecule goes through the quality filter once
        run = DesignRun(cfg, score, None, self.progress, quality_cache=self._quality_seen)
        run.seed_population(start)
        self.last_snapshots = {}
        while run.scored < cfg.budget and not self._at_target(run.best, number_molecules):
            run.run_step()
            if run.scored - len(start) in self.snapshots:
                self._snapshot(run, number_molecules, run.scored - len(start))
        self.last_run = run
        chosen = best_distinct(run.best, number_molecules)
        for mark in self.snapshots:  # stopped at the maximum: a larger budget would give the same scores
            if mark not in self.last_snapshots and mark <= cfg.budget - len(start):
                self.last_snapshots[mark] = [run.best[s] for s in chosen]
        return chosen

    def _snapshot(self, run: DesignRun, n: int, mark: int) -> None:
        self.last_snapshots[mark] = [run.best[s] for s in best_distinct(run.best, n)]

    def _at_target(self, best: dict[str, float], n: int) -> bool:
        """Whether the best ``n`` distinct molecules all reach ``stop_at`` (a cheap count first)."""
        if self.stop_at is None or sum(v >= self.stop_at for v in best.values()) < n:
            return False
        chosen = best_distinct(best, n)
        return len(chosen) == n and all(best[s] >= self.stop_at for s in chosen)


def best_distinct(best: dict[str, float], n: int) -> list[str]:
    """The ``n`` best molecules of ``best`` (canonical SMILES → score), distinct as GuacaMol counts them: GuacaMol
    strips stereochemistry from the molecules a generator returns, keeps one of each, and pads the list with zeros,
    so stereoisomers of one molecule would take the places of other molecules. Each molecule is returned in its
    best-scoring form (ties: the smaller string). The key is GuacaMol's: RDKit's sanitized parse (explicit hydrogens
    removed), SMILES without stereo (:func:`chemrnn.chem.stereo_free`); a string RDKit cannot read is left out, as
    GuacaMol leaves it out."""
    chosen: list[str] = []
    seen: set[str] = set()
    for smiles, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])):
        flat = chem.stereo_free(smiles)
        if flat is None:
            continue
        if flat not in seen:
            seen.add(flat)
            chosen.append(smiles)
            if len(chosen) == n:
                break
    return chosen


def guacamol_holdout() -> list[str]:
    """The SMILES of the ten drugs GuacaMol kept out of its ChEMBL training set, read from the installed guacamol
    package (``holdout_set_gcm_v1.smiles``)."""
    try:
        text = pkgutil.get_data("guacamol.data", "holdout_set_gcm_v1.smiles")
    except (ImportError, FileNotFoundError, OSError):
        text = None
    if not text:
        raise InputError("population_filter='guacamol' reads GuacaMol's holdout drugs from the guacamol package: "
                         "pip install --no-deps guacamol==0.5.5")
    return [line.split()[0] for line in text.decode().splitlines() if line.strip()]


class ParallelScore:
    """A scoring function over ``workers`` forked processes for lists of :data:`PARALLEL_FROM` molecules or more
    (a starting population, large batches: some GuacaMol objectives take ~50 ms a molecule); the scores are those of
    the function called on the whole list in this process, in order."""

    def __init__(self, score, workers: int):
        self.score, self.workers = score, workers

    def __call__(self, smiles: list[str]) -> list[float]:
        smiles = list(smiles)
        if self.workers < 2 or len(smiles) < PARALLEL_FROM:
            return list(self.score(smiles))
        global _SCORE
        _SCORE = self.score  # inherited by the forked workers
        size = min(2048, -(-len(smiles) // self.workers))
        chunks = [smiles[i:i + size] for i in range(0, len(smiles), size)]
        with multiprocessing.get_context("fork").Pool(self.workers) as pool:
            return [v for part in pool.map(_score_chunk, chunks) for v in part]


_SCORE = None


def _score_chunk(chunk: list[str]) -> list[float]:
    return list(_SCORE(chunk))
