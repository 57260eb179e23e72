"""The cost of a docking call on this machine, and of the cheap components beside it.

Docks ``-n`` random molecules of ``chembl`` (seeded draw) against a DOCKSTRING target with the ``docking``
scoring component three ways — one process with one Vina thread, two processes with one thread each, one process
with two threads — and scores 2,000 random ``chembl`` molecules with QED + SA (the cheap components) for the rate
beside it. Records seconds per molecule, molecules per second, failures with their reasons, and the energies.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_docking.py RESULT.json [--target F2] [-n 10]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from chemrnn.datasets import resolve_input, smiles_column  # noqa: E402
from chemrnn.io import load_smiles_list  # noqa: E402
from chemrnn.scoring import ScoringFunction  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("result", type=Path)
    ap.add_argument("--target", default="F2")
    ap.add_argument("-n", type=int, default=10)
    a = ap.parse_args()
    pool = load_smiles_list(resolve_input("chembl"), smiles_column("chembl"))
    rng = random.Random(0)
    mols = rng.sample(pool, a.n)
    out = {"setup": {"target": a.target, "molecules": a.n, "machine": machine(), "command": " ".join(sys.argv)},
           "docking": []}
    for workers, cpus in ((1, 1), (2, 1), (1, 2)):
        comp = {"type": "docking", "target": a.target, "workers": workers, "cpus": cpus,
                "modifier": {"type": "reverse_sigmoid", "low": -12, "high": -4}}
        f = ScoringFunction.from_config({"component": [comp], "cache": False})
        t0 = time.perf_counter()
        sc = f.score(mols)
        s = time.perf_counter() - t0
        row = {"workers": workers, "vina_threads": cpus, "seconds": round(s, 1),
               "seconds_per_molecule": round(s / a.n, 2), "molecules_per_s": round(a.n / s, 3),
               "failures": [x for x in sc.failures if x], "energies": [round(float(e), 2) for e in sc.raw["docking"]]}
        out["docking"].append(row)
        print(row, flush=True)
    cheap = rng.sample(pool, 2000)
    f = ScoringFunction.from_config({"component": [{"type": "qed"}, {"type": "sa", "modifier": {
        "type": "reverse_sigmoid", "low": 2.5, "high": 5}}], "cache": False})
    t0 = time.perf_counter()
    f(cheap)
    s = time.perf_counter() - t0
    out["cheap_qed_sa"] = {"molecules": 2000, "seconds": round(s, 2), "molecules_per_s": round(2000 / s, 1)}
    print(out["cheap_qed_sa"])
    a.result.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
