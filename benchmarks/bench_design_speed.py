"""Design-loop speed: scored molecules per second for each optimizer on the shipped prior (3×LSTM-512), split into
sample / score / update time, with QED + SA + logP-window scoring (RDKit) — and the same-run SGEMM rate as a
yardstick for the machine.

Usage: python benchmarks/bench_design_speed.py OUT.json [STEPS] [BATCH]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from chemrnn.design import DesignConfig, DesignRun  # noqa: E402
from chemrnn.scoring import ScoringFunction  # noqa: E402

SCORING = {"aggregation": "geometric", "component": [
    {"type": "qed"}, {"type": "sa", "modifier": {"type": "reverse_sigmoid", "low": 2.5, "high": 5}},
    {"type": "descriptor", "descriptor": "logP", "modifier": {"type": "window", "low": 1, "high": 3, "decay": 1}}]}
OPTIONS = {"reinvent": {"sigma": 120, "lr": 5e-4}, "hillclimb": {"top_k": 256, "epochs": 1},
           "segler": {"top_k": 128, "threshold": 0.8, "epochs": 1}}


def sgemm_gflops(n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def main():
    out, steps, batch = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6, \
        int(sys.argv[3]) if len(sys.argv) > 3 else 128
    res = {"machine": machine(), "torch_threads": torch.get_num_threads(), "sgemm_gflops": sgemm_gflops(),
           "steps": steps, "batch_size": batch, "optimizers": {}}
    for name, opts in OPTIONS.items():
        cfg = DesignConfig(optimizer=name, budget=steps * batch, batch_size=batch, options=opts,
                           diversity_filter={"kind": "scaffold", "bucket_size": 25, "min_score": 0.4})
        run = DesignRun(cfg, ScoringFunction.from_config(SCORING), None)
        logs = [run.run_step()["log"] for _ in range(steps)]
        logs = logs[1:]  # the first step warms up
        s = {k: sum(lg[k] for lg in logs) for k in ("sample_s", "score_s", "update_s")}
        total = sum(s.values())
        res["optimizers"][name] = {**{k: round(v, 2) for k, v in s.items()},
                                   "molecules": batch * len(logs), "molecules_per_s": batch * len(logs) / total}
        print(name, json.dumps(res["optimizers"][name]), flush=True)
    Path(out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
