"""GuacaMol's generator interface over design runs: :class:`GoalDirectedGenerator` (duck-typed; guacamol is not
needed) and :func:`best_distinct`, the best molecules as GuacaMol counts them."""
from __future__ import annotations

from dataclasses import replace

from .. import chem
from ..datasets import resolve_input, smiles_column
from ..errors import InputError
from ..io import load_smiles_list
from .config import DesignConfig
from .run import DesignRun


class GoalDirectedGenerator:
    """``generate_optimized_molecules(scoring_function, number_molecules, starting_population=None)``: the interface
    of GuacaMol's ``GoalDirectedGenerator`` (duck-typed; guacamol is not needed), so that GuacaMol's own benchmark can
    drive chemrnn. ``scoring_function`` is a chemrnn :class:`~chemrnn.scoring.ScoringFunction`, any callable taking a
    list of SMILES, or an object with GuacaMol's ``score_list``. Each call runs a fresh in-memory design run of
    ``budget`` scored molecules from the prior (with ``budget_after_population``: ``budget`` sampled molecules after
    the starting population, whatever its size) and returns the best distinct molecules found (stereoisomers count as
    one molecule, as GuacaMol counts them: :func:`best_distinct`).

    ``stop_at``: end a call early once the best ``number_molecules`` distinct molecules all score at least this.
    Give the objective's maximum (GuacaMol's scores lie in [0, 1]: ``stop_at=1.0``): then a task at its maximum
    spends no more budget, and the scores it returns are those the full budget would give (the best found can only
    improve). ``snapshots``: numbers of sampled molecules (after the population; multiples of ``batch_size``) at
    which the scores of the molecules the call would have returned are kept in ``last_snapshots`` — one run gives
    the score at several budgets; marks after an early stop get the final scores. ``quality``: the quality
    filter, a preset name (``default``, ``strict``, ``none``) or a ``[quality]`` table as a dict
    (:mod:`chemrnn.scoring.quality`): a molecule it rejects scores 0 and is never returned."""

    def __init__(self, optimizer: str = "reinvent", prior: str = "shipped", budget: int = 5000, batch_size: int = 128,
                 seed: int = 0, options: dict | None = None, diversity_filter: dict | None = None,
                 device: str = "auto", progress=None, population: str | None = None, population_size: int = 0,
                 budget_after_population: bool = False, stop_at: float | None = None,
                 snapshots: tuple[int, ...] = (), quality: str | dict = "default"):
        self.cfg = DesignConfig(optimizer=optimizer, prior=prior, budget=budget, batch_size=batch_size, seed=seed,
                                device=device, options=dict(options or {}),
                                quality={"preset": quality} if isinstance(quality, str) else dict(quality),
                                diversity_filter={**DesignConfig().diversity_filter, **(diversity_filter or {})})
        self.cfg.validate()
        self.progress = progress
        self.population, self.population_size = population, population_size
        self.budget_after_population = budget_after_population
        self.last_run: DesignRun | None = None
        self.last_population = 0  # the size of the last call's starting population
        self.stop_at, self.snapshots = stop_at, tuple(sorted(snapshots))
        bad = [m for m in self.snapshots if m <= 0 or m % batch_size or m > budget]
        if bad:
            raise InputError(f"snapshots must be positive multiples of the batch size ({batch_size}) within the "
                             f"budget ({budget}), not {bad}")
        self.last_snapshots: dict[int, list[float]] = {}  # sampled molecules → the best distinct molecules' scores

    def starting_molecules(self, given: list[str] | None) -> list[str]:
        """The benchmark's starting population if it gives one, else a seeded random draw of ``population_size``
        molecules from the dataset or file ``population`` (e.g. ``chembl``, as GuacaMol's hill-climber starts from
        its training set); the draw is scored and counted in the budget."""
        if given:
            return list(given)
        if not self.population or not self.population_size:
            return []
        import random

        pool = load_smiles_list(resolve_input(self.population), smiles_column(self.population))
        return random.Random(self.cfg.seed).sample(pool, min(self.population_size, len(pool)))

    def generate_optimized_molecules(self, scoring_function, number_molecules: int,
                                     starting_population: list[str] | None = None) -> list[str]:
        score = scoring_function
        if hasattr(scoring_function, "score_list"):
            score = scoring_function.score_list  # noqa: E731  (GuacaMol scores invalid molecules -1: clipped to 0)
        start = self.starting_molecules(starting_population)
        self.last_population = len(start)
        cfg = self.cfg
        if self.budget_after_population:
            cfg = replace(cfg, budget=cfg.budget + len(start))
        run = DesignRun(cfg, score, None, self.progress)
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
