"""GuacaMol's distribution-learning benchmark (validity, uniqueness, novelty, KL divergence, FCD), scored by
GuacaMol's own code, with a chemrnn language model as the generator.

Needs guacamol for the benchmark only (``pip install --no-deps guacamol==0.5.5``; ``fcd`` is chemrnn's own
dependency and offers the functions GuacaMol calls; two shims below: ``scipy.histogram`` and the ChemNet file).
The training set is the one the model was trained on (novelty is measured against it; the KL and FCD references
are drawn from it by GuacaMol).

Usage::

    CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_guacamol_distribution.py OUT.json \\
        [--model chembl] [--training chembl] [--number 10000] [--temperature 1.0] [--seed 0]
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy

if not hasattr(scipy, "histogram"):  # guacamol 0.5.5 uses scipy.histogram (removed from SciPy): the same function
    scipy.histogram = np.histogram

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from chemrnn.api import Generator  # noqa: E402
from chemrnn.datasets import resolve_input  # noqa: E402


def plain_copy(source: str, folder: Path) -> Path:
    """GuacaMol reads an uncompressed file of one SMILES per line."""
    path = resolve_input(source)
    out = folder / (path.name.removesuffix(".gz"))
    if not out.exists():
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as src, open(out, "w") as dst:
            dst.write(src.read())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output", type=Path)
    ap.add_argument("--model", default="chembl")
    ap.add_argument("--training", default="chembl")
    ap.add_argument("--number", type=int, default=10_000, help="samples per benchmark (GuacaMol's is 10,000)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import fcd
    from guacamol.assess_distribution_learning import _assess_distribution_learning
    from guacamol.frechet_benchmark import FrechetBenchmark

    # GuacaMol looks for ChemNet v0.13 as the Keras file (.h5) of fcd 1.1; fcd 1.2 ships the same network's weights
    # converted to PyTorch (.pt) and loads them with load_ref_model(): the same ChemNet, the same FCD
    FrechetBenchmark._load_chemnet = lambda self: fcd.load_ref_model()

    args.output.parent.mkdir(parents=True, exist_ok=True)
    training = plain_copy(args.training, args.output.parent)
    generator = Generator(args.model, temperature=args.temperature, seed=args.seed)
    raw = args.output.with_suffix(".guacamol.json")
    t = time.perf_counter()
    _assess_distribution_learning(model=generator, chembl_training_file=str(training), json_output_file=str(raw),
                                  benchmark_version="v2", number_samples=args.number)
    seconds = time.perf_counter() - t
    results = json.loads(raw.read_text())["results"]
    summary = {"model": args.model, "training": args.training, "number": args.number,
               "temperature": args.temperature, "seed": args.seed, "seconds": round(seconds, 1),
               "machine": machine(), "scores": {r["benchmark_name"]: r["score"] for r in results}}
    args.output.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
