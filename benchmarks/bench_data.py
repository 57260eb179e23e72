"""Benchmark of the data layer on MOSES train (1.58 M SMILES): prepare, then tokenize + bucket into a cache.

Targets: prepare <= 2 min wall and <= 2 GB peak RSS on 2 cores; encode <= 1 min.
Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_data.py [OUT_DIR]
"""
import json
import sys
from pathlib import Path

from common import machine, measure, save

from chemrnn.prepare import read_summary

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/bench_data")
out.mkdir(parents=True, exist_ok=True)
chemrnn = str(Path(sys.executable).with_name("chemrnn"))
prep = measure([chemrnn, "data", "prepare", "moses", "-o", str(out / "moses_train.smi"), "-j", "2"])
enc = measure([chemrnn, "data", "encode", str(out / "moses_train.smi"), "-o", str(out / "moses_train.npz")])
summary = read_summary(out / "moses_train.smi")
result = {"machine": machine(), "prepare": prep, "encode": enc,
          "prepare_counts": {k: summary[k] for k in ("lines", "kept", "duplicates", "rejected")}}
save(result, out / "result.json")
print(json.dumps(result, indent=1))
