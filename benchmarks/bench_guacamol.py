"""GuacaMol's goal-directed suite (v2, 20 tasks), scored by GuacaMol's own code, with chemrnn as the generator.

Needs guacamol installed for the benchmark only: ``pip install --no-deps guacamol==0.5.5`` (its other needs are
chemrnn's own). GuacaMol 0.5.5 calls ``scipy.histogram``, which newer SciPy lacks: the one-line shim below.

Usage::

    python benchmarks/bench_guacamol.py OUT.json [--optimizer reinvent] [--budget 4096] [--tasks 0,1,2]
        [--prior shipped] [--batch-size 128] [--option sigma=120 --option lr=5e-4]
        [--population chembl --population-size 2048]
        [--population chembl --population-size all --population-filter guacamol --workers 2]
        [--diversity-filter none] [--population-cache DIR] [--stop-at-max] [--snapshots 20480,40960]

``--population-size all --population-filter guacamol`` is the published SMILES-LSTM hill-climber's protocol: score
the whole training set first and start from its best, with the set cleaned as GuacaMol cleaned its ChEMBL training
set (molecules with ECFP4 Tanimoto ≥ 0.323 to any of its ten holdout drugs removed: the rediscovery/similarity
targets, the osimertinib, fexofenadine and ranolazine MPO drugs, and cobimetinib; the other tasks' molecules were
not filtered, in GuacaMol's set either). The population's molecules count in ``scored_molecules``; ``--budget`` is
the number of molecules *sampled* after it (after the task's own starting population where it gives one: Ranolazine
MPO).
``--workers`` scores the population and each sampled batch (512 or more) in that many processes.
``--stop-at-max`` ends a task once the molecules GuacaMol asks for all score 1.0 (its maximum: more budget could not
change them). ``--snapshots`` keeps GuacaMol's score of the task at those numbers of sampled molecules too (one run,
several budgets).

Each task's result is appended to OUT.json as soon as it is done; rerunning skips finished tasks (resumable).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy

if not hasattr(scipy, "histogram"):  # guacamol 0.5.5 uses scipy.histogram (removed from SciPy): the same function
    scipy.histogram = np.histogram

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import filter_like_guacamol, machine  # noqa: E402

from chemrnn.design import GoalDirectedGenerator  # noqa: E402
from chemrnn.design.guacamol import HOLDOUT_CUTOFF, PRESETS, ParallelScore as ForkedScore  # noqa: E402
from chemrnn.scoring.quality import QualityFilter  # noqa: E402


# GuacaMol paper (Brown et al. 2019, Table 2): SMILES LSTM hill-climb and Graph GA per task
PUBLISHED = {
    "Celecoxib rediscovery": (1.000, 1.000), "Troglitazone rediscovery": (1.000, 1.000),
    "Thiothixene rediscovery": (1.000, 1.000), "Aripiprazole similarity": (1.000, 1.000),
    "Albuterol similarity": (1.000, 1.000), "Mestranol similarity": (1.000, 1.000),
    "C11H24": (0.993, 0.971), "C9H10N2O2PF2Cl": (0.879, 0.982), "Median molecules 1": (0.438, 0.406),
    "Median molecules 2": (0.422, 0.432), "Osimertinib MPO": (0.907, 0.953), "Fexofenadine MPO": (0.959, 0.998),
    "Ranolazine MPO": (0.855, 0.920), "Perindopril MPO": (0.808, 0.792), "Amlodipine MPO": (0.894, 0.894),
    "Sitagliptin MPO": (0.545, 0.891), "Zaleplon MPO": (0.669, 0.754), "Valsartan SMARTS": (0.978, 0.990),
    "Deco Hop": (0.996, 1.000), "Scaffold Hop": (0.998, 1.000),
}


def option_value(text: str):
    """An optimizer option from the command line: true/false, an integer or a float."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return float(text)


def budget_marks(text: str) -> list[int]:
    """``--snapshots``: comma-separated positive numbers of sampled molecules (a clear error for anything else)."""
    try:
        marks = sorted({int(m) for m in text.split(",") if m.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated whole numbers: {text!r}") from None
    if any(m <= 0 for m in marks):
        raise argparse.ArgumentTypeError(f"numbers of sampled molecules must be positive: {text!r}")
    return marks


def pass_share(quality, smiles: list[str]) -> float | None:
    """The share of ``smiles`` that passes a quality filter (None for an empty list)."""
    from chemrnn import chem

    canon = [chem.canonical_or_none(x) for x in smiles]
    reasons = quality.reasons(canon)
    return round(sum(c is not None and r is None for c, r in zip(canon, reasons)) / len(smiles), 4) if smiles else None


def global_score(spec, scores: list[float]) -> float:
    """GuacaMol's score of a task from the scores of the best distinct molecules (``spec``: the task's contribution
    specification, e.g. the mean of the top-1, top-10 and top-100 means); missing places count 0, as in GuacaMol."""
    from guacamol.goal_directed_score_contributions import compute_global_score

    n = max(spec.top_counts)
    top = list(scores[:n])
    return float(compute_global_score(spec, top + [0.0] * (n - len(top)))[0])


def population_source(name: str, how: str | None, out: Path) -> tuple[str, int, dict]:
    """The starting-population source handed to the generator (a dataset name, or a cleaned copy beside OUT), its
    number of molecules, and what was done to it."""
    from chemrnn.datasets import resolve_input, smiles_column
    from chemrnn.io import load_smiles_list

    source, info = name, {}
    if how:
        source = str(out.with_suffix(f".{Path(name).stem}.guacamol-filtered.smi"))
        info = {"filter": f"guacamol holdout, ECFP4 Tanimoto ≥ {HOLDOUT_CUTOFF} removed", "file": source}
        if not Path(source).exists():
            kept, removed = filter_like_guacamol(load_smiles_list(resolve_input(name), smiles_column(name)))
            tmp = Path(source).with_suffix(".tmp")
            tmp.write_text("\n".join(kept) + "\n")
            tmp.replace(source)
            print(f"population {name}: {removed:,} removed as GuacaMol did (ECFP4 ≥ {HOLDOUT_CUTOFF} to a holdout "
                  f"drug, or invalid), {len(kept):,} kept -> {source}", flush=True)
    n = len(load_smiles_list(resolve_input(source), smiles_column(source)))
    return source, n, ({**info, "molecules": n} if info else info)


class ParallelScore:
    """GuacaMol's ``score_list`` over ``workers`` forked processes for lists of 512 or more (the starting population,
    sampled batches: the hop tasks' pharmacophore fingerprints take ~50 ms a molecule).

    With ``cache`` (a folder) a long list's scores are kept there under the task's name and the list's sha256, so a
    rerun of the benchmark does not score the same population again; the molecules still count as scored."""

    def __init__(self, objective, workers: int, cache: Path | None = None, task: str = ""):
        self.objective, self.workers, self.cache, self.task = objective, workers, cache, task
        self.from_cache = False  # whether a long list's scores came from the cache (its seconds not spent here)

    def __call__(self, smiles: list[str]) -> list[float]:
        if len(smiles) < 4096:  # a sampled batch: in processes too when it is worth a fork (slow objectives)
            return self._score(smiles)
        if self.cache is None:
            return self._score(smiles)
        digest = hashlib.sha256("\n".join(smiles).encode()).hexdigest()[:16]
        path = self.cache / f"{''.join(c if c.isalnum() else '_' for c in self.task)}.{digest}.npy"
        if path.exists():
            self.from_cache = True
            return np.load(path).tolist()
        scores = self._score(smiles)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, np.asarray(scores, dtype=float))
        tmp.replace(path)
        return scores

    def _score(self, smiles: list[str]) -> list[float]:
        return ForkedScore(self.objective.score_list, self.workers)(smiles)


class ParallelScoring:
    """A generator whose scoring function scores lists of 512 or more in ``workers`` processes."""

    def __init__(self, gen: GoalDirectedGenerator, workers: int, cache: Path | None = None, task: str = ""):
        self.gen, self.workers, self.cache, self.task = gen, workers, cache, task
        self.score: ParallelScore | None = None

    def generate_optimized_molecules(self, scoring_function, number_molecules, starting_population=None):
        score = self.score = ParallelScore(scoring_function, self.workers, self.cache, self.task)
        return self.gen.generate_optimized_molecules(score, number_molecules, starting_population)


LEGACY = {"optimizer": "reinvent", "prior": "shipped", "budget": 4096, "batch_size": 128, "population_size": "0",
          "workers": 1, "diversity_filter": "scaffold", "stop_at_max": False}


def fill_from_preset(args: argparse.Namespace) -> argparse.Namespace:
    """Flags left out take the preset's value (``--preset``), else the script's own defaults."""
    preset = PRESETS[args.preset] if args.preset else {}
    fill = dict(LEGACY)
    if preset:
        fill.update(optimizer=preset["optimizer"], prior=preset["prior"], budget=preset["budget"],
                    batch_size=preset["batch_size"], workers=preset["workers"],
                    diversity_filter=preset["diversity_filter"].get("kind", "scaffold"),
                    stop_at_max=preset["stop_at"] == 1.0, population_size=str(preset["population_size"]))
        if args.population is None:
            args.population = preset["population"]
        if args.population_filter is None:
            args.population_filter = preset["population_filter"]
    for key, value in fill.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.options = dict(preset.get("options", {}))
    args.options.update({k: option_value(v) for k, v in (o.split("=", 1) for o in args.option or [])})
    return args


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("output")
    ap.add_argument("--preset", default=None, choices=sorted(PRESETS),
                    help="the generator's named settings (chemrnn.design.guacamol.PRESETS); the flags below override "
                         "them")
    ap.add_argument("--quality", default="none", choices=["default", "strict", "none"],
                    help="the quality filter: a rejected molecule scores 0 and is never returned (GuacaMol's "
                         "published protocol has none)")
    ap.add_argument("--optimizer", default=None, help="default: reinvent")
    ap.add_argument("--prior", default=None, help="default: shipped")
    ap.add_argument("--budget", type=int, default=None, help="default: 4096")
    ap.add_argument("--batch-size", type=int, default=None, help="default: 128")
    ap.add_argument("--tasks", default="", help="comma-separated task indices (default: all 20)")
    ap.add_argument("--option", action="append", default=None, help="optimizer option key=value")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--population", default=None, help="dataset or file to draw a starting population from")
    ap.add_argument("--population-size", default=None,
                    help="molecules drawn (scored; counted in scored_molecules), or 'all'")
    ap.add_argument("--population-filter", default=None, choices=["guacamol"],
                    help="clean the population as GuacaMol cleaned its training set (see the module docstring)")
    ap.add_argument("--workers", type=int, default=None, help="processes scoring the population and sampled batches")
    ap.add_argument("--diversity-filter", default=None, choices=["scaffold", "generic", "identical", "none"],
                    help="the design run's diversity filter (GuacaMol's hill-climber has none); default: scaffold")
    ap.add_argument("--population-cache", default=None,
                    help="folder keeping each task's population scores, so a rerun does not score them again")
    ap.add_argument("--stop-at-max", action="store_true", default=None,
                    help="end a task once the molecules GuacaMol asks for all score 1.0")
    ap.add_argument("--snapshots", default=[], type=budget_marks,
                    help="comma-separated numbers of sampled molecules at which to keep the task's score too")
    args = fill_from_preset(ap.parse_args())
    off = [m for m in args.snapshots if m % args.batch_size or m > args.budget]
    if off:
        ap.error(f"--snapshots {off}: marks must be multiples of --batch-size ({args.batch_size}) within --budget "
                 f"({args.budget})")

    from guacamol.benchmark_suites import goal_directed_suite_v2

    options = args.options
    out = Path(args.output)
    done = json.loads(out.read_text()) if out.exists() else {"results": {}}
    previous = done.get("setup")
    population, available, pop_info = (population_source(args.population, args.population_filter, out)
                                       if args.population else (None, 0, {}))
    size = available if args.population_size == "all" else min(available, int(args.population_size))
    done["setup"] = {"optimizer": args.optimizer, "prior": args.prior, "budget": args.budget,
                     "sampled_budget": args.budget, "batch_size": args.batch_size, "options": options,
                     "seed": args.seed, "diversity_filter": args.diversity_filter,
                     **({"quality": args.quality} if args.quality != "none" else {}),
                     **({"preset": args.preset} if args.preset else {}),
                     "population": args.population, "population_size": size, **(
                         {"population_filter": pop_info} if pop_info else {}),
                     **({"stop_at_max": True} if args.stop_at_max else {}),
                     "snapshots": args.snapshots,
                     "machine": machine(), "command": " ".join(sys.argv)}
    marks = tuple(done["setup"]["snapshots"])
    if previous is not None and "snapshots" not in previous:  # a file written before the key: its results' marks
        previous["snapshots"] = sorted({int(m) for r in done["results"].values() for m in r.get("snapshots", {})})
    if previous and done["results"]:
        changed = [k for k in done["setup"] if k not in ("machine", "command") and previous.get(k) != done["setup"][k]]
        if changed:
            sys.exit(f"{out} holds results of other settings ({', '.join(changed)}): use another OUT.json")
    suite = goal_directed_suite_v2()
    # one generator for every task: the quality filter checks each molecule of the population once
    gen = GoalDirectedGenerator(args.optimizer, args.prior, args.budget, args.batch_size, args.seed, options,
                                diversity_filter={"kind": args.diversity_filter},
                                population=population, population_size=size, budget_after_population=True,
                                stop_at=1.0 if args.stop_at_max else None, snapshots=marks,
                                quality=args.quality, workers=1)  # the scoring below forks (and caches)
    default_quality = QualityFilter.from_config({"preset": "default"})
    picks = [int(i) for i in args.tasks.split(",")] if args.tasks else range(len(suite))
    for i in picks:
        bench = suite[i]
        if bench.name in done["results"]:
            continue
        t0 = time.perf_counter()
        cache = Path(args.population_cache) if args.population_cache else None
        model = ParallelScoring(gen, args.workers, cache, bench.name)
        res = bench.assess_model(model)
        seconds = time.perf_counter() - t0
        hc, ga = PUBLISHED.get(bench.name, (None, None))
        done["results"][bench.name] = {"index": i, "score": res.score, "seconds": round(seconds, 1),
                                       "scored_molecules": gen.last_run.scored if gen.last_run else None,
                                       "starting_population": gen.last_population,
                                       "population_scores_cached": bool(model.score and model.score.from_cache),
                                       "smiles_lstm_hc": hc, "graph_ga": ga,
                                       "sampled": gen.last_run.scored - gen.last_population if gen.last_run else None,
                                       **({"snapshots": {m: global_score(bench.contribution_specification, v)
                                                         for m, v in sorted(gen.last_snapshots.items())}}
                                          if marks else {}),
                                       "top100_pass_default_quality": pass_share(
                                           default_quality, [m[0] for m in res.optimized_molecules[:100]]),
                                       "top": res.optimized_molecules[:3] if res.optimized_molecules else []}
        print(f"{i:2d} {bench.name:28s} {res.score:.3f} (SMILES-LSTM HC {hc}, Graph GA {ga}) {seconds:.0f} s",
              flush=True)
        out.write_text(json.dumps(done, indent=1, default=str))
    scores = [r["score"] for r in done["results"].values()]
    done["total"] = float(np.sum(scores))
    out.write_text(json.dumps(done, indent=1, default=str))
    print(f"total over {len(scores)} tasks: {done['total']:.2f} (SMILES-LSTM HC 17.34, Graph GA 17.98 over 20)")


if __name__ == "__main__":
    main()
