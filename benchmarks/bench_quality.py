"""How much of ChEMBL each quality filter passes: every alert set of chemrnn.chem.ALERT_SETS alone, the atom checks,
the ring-system check and each preset of chemrnn.scoring.quality, on a random 3,000 molecules of `chembl:valid`
(never read for the ring-system table), with the cost per molecule. Results: benchmarks/results/quality/chembl_pass_rates.json.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_quality.py [-n 3000] [--seed 0]
"""
import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from chemrnn import chem  # noqa: E402
from chemrnn.datasets import path as dataset_path  # noqa: E402
from chemrnn.io import iter_lines  # noqa: E402
from chemrnn.scoring.quality import PRESETS, QualityFilter  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "quality" / "chembl_pass_rates.json"


def rate(filt: QualityFilter, smiles: list[str]) -> dict:
    t = time.perf_counter()
    reasons = filt.reasons(smiles)
    return {"pass": round(sum(r is None for r in reasons) / len(smiles), 4),
            "ms_per_molecule": round(1e3 * (time.perf_counter() - t) / len(smiles), 2)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pool = [line.split()[0] for _, line, _ in iter_lines(dataset_path("chembl:valid")) if line.strip()]
    smiles = random.Random(args.seed).sample(pool, args.n)
    none = {"preset": "none"}
    checks = {name: QualityFilter.from_config({**none, "alerts": [name]}) for name in chem.ALERT_SETS}
    checks["atoms"] = QualityFilter.from_config({**none, "atoms": True})
    checks["ring systems seen in ChEMBL"] = QualityFilter.from_config({**none, "ring_systems": "chembl"})
    checks.update({f"preset {p}": QualityFilter.from_config({"preset": p}) for p in PRESETS})
    result = {"molecules": args.n, "source": "chembl:valid", "seed": args.seed,
              "checks": {name: rate(f, smiles) for name, f in checks.items()}, "machine": machine()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    for name, r in result["checks"].items():
        print(f"| {name} | {r['pass']:.1%} | {r['ms_per_molecule']:.2f} |")
