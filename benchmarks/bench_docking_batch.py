"""Docking a design run's batch: how busy the docking processes keep the cores.

Scores ``-n`` random molecules of ``chembl`` (seeded draw) with a design run's scoring — docking against a DOCKSTRING
target through ``--workers`` processes, QED beside it — with a journal attached as a design run attaches its score
cache, so that every molecule is handed over as its docking ends. Records the wall time, molecules per second, the
journal's hand-overs (how many, how many molecules each), and the share of ``workers`` cores the docking processes
used (their CPU time, Vina's included, over ``workers`` × wall time): 1.0 means no process ever waited.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_docking_batch.py RESULT.json [--target F2] [-n 32]
           [--workers 2] [--exhaustiveness 8]
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from chemrnn.datasets import resolve_input, smiles_column  # noqa: E402
from chemrnn.io import load_smiles_list  # noqa: E402
from chemrnn.scoring import ScoringFunction  # noqa: E402


def children_cpu() -> float:
    """CPU seconds of every ended child process (and of the processes they waited for)."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("result", type=Path)
    ap.add_argument("--target", default="F2")
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--exhaustiveness", type=int, default=8)
    a = ap.parse_args()
    pool = load_smiles_list(resolve_input("chembl"), smiles_column("chembl"))
    mols = random.Random(0).sample(pool, a.n)
    comp = {"type": "docking", "target": a.target, "workers": a.workers, "exhaustiveness": a.exhaustiveness,
            "modifier": {"type": "clipped", "lower_x": 0, "upper_x": -20}}
    scoring = ScoringFunction.from_config({"component": [comp, {"type": "qed"}]})
    handed: list[int] = []
    scoring.journal = lambda entries: handed.append(len(entries))
    cpu0, t0 = children_cpu(), time.perf_counter()
    sc = scoring.score(mols)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    out = {"setup": {"target": a.target, "molecules": a.n, "workers": a.workers, "exhaustiveness": a.exhaustiveness,
                     "machine": machine(),
                     "command": " ".join(sys.argv)},
           "seconds": round(wall, 1), "molecules_per_s": round(a.n / wall, 4),
           "docking_cpu_seconds": round(cpu, 1), "core_share_used": round(cpu / (a.workers * wall), 3),
           "journal_handovers": len(handed), "molecules_per_handover": sorted(set(handed)),
           "failures": [x for x in sc.failures if x],
           "energies": [round(float(e), 2) for e in sc.raw["docking"]]}
    print({k: v for k, v in out.items() if k != "energies"}, flush=True)
    a.result.parent.mkdir(parents=True, exist_ok=True)
    a.result.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
