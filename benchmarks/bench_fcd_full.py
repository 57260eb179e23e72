"""FCD/Test as MOSES computes it: generated valid molecules against the WHOLE MOSES test set (176k), beside the
FCD against random draws of the test set, to show how much a smaller reference draw moves the figure.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_fcd_full.py SAMPLES.smi OUT.json [DRAW ...]
ChemNet statistics of the full test set take ~10 minutes on one CPU core the first time, then come from the cache.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402

from chemrnn.api import read_samples, reference_draw  # noqa: E402
from chemrnn.datasets import cache_dir  # noqa: E402
from chemrnn.metrics import chemnet_stats, frechet_distance, smiles_digest
from chemrnn.chem import canonical_all  # noqa: E402


def cached_stats(smiles: list[str]):
    path = cache_dir() / "references" / f"chemnet_{smiles_digest(smiles)[:24]}.npz"
    if path.exists():
        with np.load(path) as z:
            return z["mu"], z["sigma"]
    mu, sigma = chemnet_stats(smiles)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, mu=mu, sigma=sigma)
    return mu, sigma


samples, out = sys.argv[1], Path(sys.argv[2])
draws = [int(x) for x in sys.argv[3:]] or [10_000]
t0 = time.perf_counter()
generated = [c for c in canonical_all(read_samples(samples)) if c]
g_mu, g_sigma = chemnet_stats(generated)
result = {"samples": samples, "valid_generated": len(generated), "machine": machine()}
full = reference_draw("moses:test", 10**9, seed=0)
t = time.perf_counter()
f_mu, f_sigma = cached_stats(full)
result["full_test"] = {"n": len(full), "FCD": frechet_distance(g_mu, g_sigma, f_mu, f_sigma),
                       "stats_seconds": round(time.perf_counter() - t, 1)}
for n in draws:
    ref = reference_draw("moses:test", n, seed=0)
    mu, sigma = cached_stats(ref)
    result[f"draw_{n}"] = {"n": len(ref), "FCD": frechet_distance(g_mu, g_sigma, mu, sigma)}
result["seconds"] = round(time.perf_counter() - t0, 1)
out.write_text(json.dumps(result, indent=1))
print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
