"""Cheap components in 1 and 2 scoring processes: QED + SA of random ``chembl`` molecules through ``[scoring]
workers = 1`` and ``= 2`` (the same values: checked), and with a per-molecule timeout (one process a molecule), for
the cost of each way against the one-process rate measured in the same run.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_scoring_workers.py RESULT.json [-n 4000]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from chemrnn.datasets import resolve_input, smiles_column  # noqa: E402
from chemrnn.io import load_smiles_list  # noqa: E402
from chemrnn.scoring import ScoringFunction  # noqa: E402

COMPONENTS = [{"type": "qed"}, {"type": "sa", "modifier": {"type": "reverse_sigmoid", "low": 2.5, "high": 5}}]


def rate(mols: list[str], **keys) -> tuple[dict, np.ndarray]:
    f = ScoringFunction.from_config({"component": COMPONENTS, "cache": False, **keys})
    t0 = time.perf_counter()
    total = f(mols)
    s = time.perf_counter() - t0
    return {**keys, "molecules": len(mols), "seconds": round(s, 2), "molecules_per_s": round(len(mols) / s, 1)}, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("result", type=Path)
    ap.add_argument("-n", type=int, default=4000)
    a = ap.parse_args()
    mols = random.Random(0).sample(load_smiles_list(resolve_input("chembl"), smiles_column("chembl")), a.n)
    one, base = rate(mols, workers=1)
    two, other = rate(mols, workers=2)
    timed, third = rate(mols[:400], workers=2, timeout=60)
    assert np.array_equal(base, other) and np.array_equal(base[:400], third)
    for row in (one, two, timed):
        row["ratio_to_one_process"] = round(row["molecules_per_s"] / one["molecules_per_s"], 2)
        print(row, flush=True)
    out = {"setup": {"components": "QED + SA", "machine": machine(), "command": " ".join(sys.argv)},
           "rates": [one, two, timed]}
    a.result.parent.mkdir(parents=True, exist_ok=True)
    a.result.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
