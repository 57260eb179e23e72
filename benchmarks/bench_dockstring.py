"""DOCKSTRING's de novo objective F2 + 10 (1 − QED) (García-Ortegón et al. 2022: Vina's score against thrombin with
a drug-likeness penalty; lower is better) optimized by chemrnn's design cycle from the ``chembl`` prior: REINVENT,
the hill-climber and Segler's cycle at one budget, each a resumable ``chemrnn design run`` (rerun the command after
a stop: a molecule docked before it is not docked again).

The objective as a scoring function: the docking energy through a linear ramp (0 kcal/mol → 0, −20 → 1) with weight
20 and QED with weight 10, arithmetic mean, so that score = (10 − objective) / 30 exactly for energies in [−20, 0]
(a molecule that cannot be docked scores 0; DOCKSTRING counted it at energy 0). No quality filter and no diversity
filter, as DOCKSTRING's baselines had none; each top molecule's default-quality flag is reported. The objective of
each docked molecule is recomputed from the run's ``score_cache.csv`` (exact raw values).

Records per optimizer: docking calls made (distinct valid molecules scored), best / top-10 / top-100 objective among
them, failures, the score cache's hit rate (molecules served from the cache / all valid sampled), seconds, the
molecules docked per second, and the machine and command of the sitting. A run stopped and rerun counts the time of
every sitting that docked something (``RUN_DIR/OPTIMIZER.sittings.json``, kept up to date every 30 s, so a sitting
ended by a kill counts too). ``benchmarks/dockstring_published.py``
gives the published baselines at the same number of new molecules.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_dockstring.py RUN_DIR OUT.json
           [--optimizers reinvent,hillclimb,segler] [--budget 256] [--batch-size 32] [--workers 2]
           [--exhaustiveness 8]
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

from chemrnn.api import design, quality_flags  # noqa: E402

CONFIG = """[design]
optimizer = "{optimizer}"
prior = "chembl"
budget = {budget}
batch_size = {batch}
seed = 0

[diversity_filter]
kind = "none"

[quality]
preset = "none"

[scoring]
aggregation = "arithmetic"

[[scoring.component]]
type = "docking"
name = "F2"
target = "F2"
workers = {workers}
exhaustiveness = {exhaustiveness}
timeout = 600
poses = "{poses}"
modifier = {{ type = "clipped", lower_x = 0, upper_x = -20 }}
weight = 20

[[scoring.component]]
type = "qed"
weight = 10
"""


def objectives(run: Path) -> list[tuple[float, str]]:
    """(F2 + 10 (1 − QED), SMILES) of every molecule the run docked, best first; failures at energy 0."""
    with open(run / "score_cache.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        energy = float(r["raw:F2"])
        energy = min(energy, 0.0) if energy == energy else 0.0
        out.append((energy + 10.0 * (1.0 - float(r["raw:qed"])), r["canonical"]))
    return sorted(out)


class SittingClock:
    """The wall time of every sitting of one run, kept in ``path`` (JSON: a list of sittings with their machine) and
    brought up to date every ``every`` seconds by a thread, so that a sitting ended by ``kill -9`` or a machine's
    shutdown still counts, to within ``every`` seconds."""

    def __init__(self, path: Path, every: float = 30.0):
        self.path, self.every = path, every
        self.sittings = json.loads(path.read_text()) if path.exists() else []
        self.sittings.append({**machine(), "seconds": 0.0})
        self.t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._write()
        self._thread.start()

    def _write(self) -> None:
        self.sittings[-1]["seconds"] = round(time.perf_counter() - self.t0, 1)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.sittings, indent=1) + "\n")
        tmp.replace(self.path)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self._write()

    def stop(self, worked: bool) -> list[dict]:
        """Ends this sitting (kept only if it ``worked``: docked something) and returns every sitting."""
        self._stop.set()
        self._thread.join()
        self._write()
        if not worked:
            self.sittings.pop()
            self.path.write_text(json.dumps(self.sittings, indent=1) + "\n")
        return self.sittings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--optimizers", default="reinvent,hillclimb,segler")
    ap.add_argument("--budget", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--exhaustiveness", type=int, default=8)
    a = ap.parse_args()
    done = json.loads(a.out.read_text()) if a.out.exists() else {"results": {}}
    done["setup"] = {"objective": "F2 + 10 (1 - QED)", "prior": "chembl", "budget": a.budget,
                     "batch_size": a.batch_size, "workers": a.workers, "exhaustiveness": a.exhaustiveness}
    for optimizer in a.optimizers.split(","):
        run = a.run_dir / optimizer
        run.parent.mkdir(parents=True, exist_ok=True)
        cfg = a.run_dir / f"{optimizer}.toml"
        cfg.write_text(CONFIG.format(optimizer=optimizer, budget=a.budget, batch=a.batch_size, workers=a.workers,
                                     exhaustiveness=a.exhaustiveness, poses=a.run_dir / "poses"))
        clock = SittingClock(a.run_dir / f"{optimizer}.sittings.json")
        summary = design(cfg, run, progress=lambda msg, *_: print(f"[{optimizer}] {msg}", flush=True))
        seconds = time.perf_counter() - clock.t0
        cache = summary.get("score_cache", {})
        sittings = clock.stop(worked=cache.get("computed", 0) > 0)
        scored = objectives(run)
        values = [v for v, _ in scored]
        failures = summary.get("scoring_failures", {})
        top = [s for _, s in scored[:100]]
        flags = quality_flags(top)
        res = {"docked": len(scored), "sampled": summary["scored"], "steps": summary["steps"],
               **{f"top{k}": round(sum(values[:k]) / k, 3) for k in (1, 10, 100) if len(values) >= k},
               "best": scored[:5], "failures": failures,
               "top100_pass_default_quality": round(sum(f == "pass" for f in flags) / len(flags), 3) if flags else None,
               "seconds_this_sitting": round(seconds, 1), "machine": machine(), "command": " ".join(sys.argv)}
        res["score_cache_this_sitting"] = cache
        res["docked_per_s_this_sitting"] = round(cache.get("computed", 0) / seconds, 4) if seconds else None
        # over every sitting that docked something, those stopped by a kill included (a rerun of a finished run adds
        # no time); a run of several sittings names each one's machine and seconds
        res["seconds"] = round(sum(x["seconds"] for x in sittings), 1)
        if len(sittings) > 1:
            res["sittings"] = [{"cpu": x.get("cpu"), "date": x["date"], "seconds": x["seconds"]} for x in sittings]
        done["results"][optimizer] = res
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(done, indent=1) + "\n")
        print(optimizer, {k: res[k] for k in ("docked", "top1", "top10") if k in res}, flush=True)


if __name__ == "__main__":
    main()
