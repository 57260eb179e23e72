"""Decoration speed against plain sampling, in one run on the same model and threads.

Decorates ``--cores`` held-out JNK3 scaffolds (the cores of bench_decorate.py, seeded pick) ``--draws`` times each
with a fine-tuned model, and samples the same number of molecules from it without a core; molecules (valid, with
the core) per second for both.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_decorate_speed.py MODEL RESULT.json [--cores 10]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, recovery_split  # noqa: E402

from chemrnn import chem, decorate  # noqa: E402
from chemrnn.api import load_lm  # noqa: E402
from chemrnn.sample import sample  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("result", type=Path)
    ap.add_argument("--target", default="jnk3")
    ap.add_argument("--cores", type=int, default=10)
    ap.add_argument("--draws", type=int, default=1000)
    a = ap.parse_args()
    m, vocab, tok, _ = load_lm(a.model)
    _, held = recovery_split(a.target)
    cores = sorted({c for c in (chem.scaffold_with_points(s) for s in held) if c})
    pick = random.Random(0).sample(cores, a.cores)
    t0 = time.perf_counter()
    kept = 0
    for i, core in enumerate(pick):
        template, query = decorate.decoration_template(core, vocab, tok)
        raw, _ = decorate.decorate(m, vocab, tok, template, a.draws, batch_size=a.draws, seed=i)
        out, _ = decorate.check(raw, query)
        kept += sum(1 for s in out if s)
    dec_s = time.perf_counter() - t0
    n = a.cores * a.draws
    t0 = time.perf_counter()
    s = sample(m, vocab, tok, n, batch_size=a.draws, seed=0)
    valid = sum(1 for x in s.smiles if chem.canonical_or_none(x))
    smp_s = time.perf_counter() - t0
    res = {"setup": {"model": a.model, "cores": a.cores, "draws": a.draws, "machine": machine(),
                     "command": " ".join(sys.argv)},
           "decoration": {"drawn": n, "with_core": kept, "seconds": round(dec_s, 1),
                          "drawn_per_s": round(n / dec_s, 1), "with_core_per_s": round(kept / dec_s, 1)},
           "sampling": {"drawn": n, "valid": valid, "seconds": round(smp_s, 1), "drawn_per_s": round(n / smp_s, 1),
                        "valid_per_s": round(valid / smp_s, 1)}}
    res["decoration_over_sampling"] = round(res["decoration"]["drawn_per_s"] / res["sampling"]["drawn_per_s"], 3)
    print(json.dumps(res, indent=1))
    a.result.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
