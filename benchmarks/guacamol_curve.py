"""The learning curve of one GuacaMol goal-directed task under chemrnn's optimizer, step by step (top-1/10/100 of
the raw score vs sampled molecules; sample/score/update seconds), from the cleaned ChEMBL starting population.

Usage::

    python benchmarks/guacamol_curve.py TASK_INDEX POOL.smi [--budget 6144] [--batch-size 512]
        [--option top_k=256 --option epochs=2 --option lr=1e-3] [--diversity-filter none]
        [--population-cache runs/gpool/popcache] [-o CURVE.json]

POOL.smi is the population file ``bench_guacamol.py --population-filter guacamol`` wrote beside its OUT.json;
``--population-cache`` reads (or writes) the task's population scores as ``bench_guacamol.py`` does.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_guacamol import ParallelScore, global_score, option_value  # noqa: E402  (also installs the scipy shim)

from chemrnn.design import DesignConfig, DesignRun  # noqa: E402
from chemrnn.design.guacamol import best_distinct  # noqa: E402


def guacamol_score(best: dict[str, float], spec) -> float:
    """GuacaMol's score of a task from the best molecules found: its own weighting of the top-k means (``spec``, the
    task's contribution specification: top-1/10/100 for most tasks, top-1 for rediscovery, top-159 for C11H24…) over
    the best molecules distinct without stereochemistry, missing places counting 0 — as GuacaMol counts them."""
    return global_score(spec, [best[s] for s in best_distinct(best, max(spec.top_counts))])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task", type=int)
    ap.add_argument("pool")
    ap.add_argument("--prior", default="chembl")
    ap.add_argument("--budget", type=int, default=6144, help="molecules sampled after the population")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--option", action="append", default=[])
    ap.add_argument("--diversity-filter", default="none")
    ap.add_argument("--population-cache", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()

    from guacamol.benchmark_suites import goal_directed_suite_v2

    bench = goal_directed_suite_v2()[args.task]
    pool = Path(args.pool).read_text().split()
    score = ParallelScore(bench.objective, args.workers,
                          Path(args.population_cache) if args.population_cache else None, bench.name)
    options = {k: option_value(v) for k, v in (o.split("=", 1) for o in args.option)}
    cfg = DesignConfig(optimizer="hillclimb", prior=args.prior, budget=args.budget + len(pool),
                       batch_size=args.batch_size, seed=args.seed, options=options,
                       diversity_filter={**DesignConfig().diversity_filter, "kind": args.diversity_filter})
    run = DesignRun(cfg, score)
    run.seed_population(pool)
    top = sorted(run.best.values(), reverse=True)
    curve = [{"sampled": 0, "top1": top[0], "top10": float(np.mean(top[:10])), "top100": float(np.mean(top[:100]))}]
    print(f"{bench.name}: population of {len(pool):,}, top-1 {curve[0]['top1']:.3f}", flush=True)
    while run.scored < cfg.budget:
        log = run.run_step()["log"]
        row = {"sampled": log["scored"] - len(pool), **{k: log[k] for k in (
            "top1", "top10", "top100", "mean", "valid", "sample_s", "score_s", "update_s")}}
        curve.append(row)
        print(f"{row['sampled']:6d}  top-1 {row['top1']:.3f}  top-10 {row['top10']:.3f}  top-100 {row['top100']:.3f}"
              f"  mean {row['mean']:.3f}  ({row['sample_s']:.1f} / {row['score_s']:.1f} / {row['update_s']:.1f} s)",
              flush=True)
    final = guacamol_score(run.best, bench.contribution_specification)
    print(f"GuacaMol's score of the best molecules found: {final:.3f}")
    if args.output:
        Path(args.output).write_text(json.dumps({"task": bench.name, "command": " ".join(sys.argv),
                                                 "curve": curve, "score": final}, indent=1))


if __name__ == "__main__":
    main()
