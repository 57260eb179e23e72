"""Focused libraries by method: the documented two-command recipe on each target, then one library per method.

For each actives set the 80/20 split of bench_recovery.py (random.Random(0), the ChEMBL prior's data holds none of
the 20 %): ``chemrnn lm finetune PRIOR TRAIN80 -o OUT/ft_NAME`` (skipped when the model is there), then for each
method ``chemrnn lm library OUT/ft_NAME/model -n N -o OUT/lib_NAME_METHOD_N.csv --method METHOD --heldout
HELDOUT20``, each timed alone. Recorded per library: recovery at 10k / 50k / 100k (the method's own library at each
size), the fraction of finished strings that were valid, novelty against the prior's data, internal diversity
(IntDiv1 of 5,000 random library molecules), wall time and molecules per second; and, in the same run, plain
sampling's rate (``lm sample -n 20000``) to set the library rates against. Rerun to continue: finished entries are
kept.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_library.py OUT_DIR RESULT.json \
           --targets pfalciparum,gsk3,jnk3 --methods beam,swor,sample [-n 100000] [--prior chembl]
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, recovery_split  # noqa: E402

from chemrnn import chem  # noqa: E402
from chemrnn.api import canonical_set  # noqa: E402
from chemrnn.metrics import internal_diversity  # noqa: E402

CHEMRNN = str(Path(sys.executable).with_name("chemrnn"))


def run(cmd: list[str], log: Path) -> float:
    t = time.perf_counter()
    with open(log, "w") as fh:
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT)
    return round(time.perf_counter() - t, 1)


def library_figures(path: Path, known: set[str]) -> dict:
    import numpy as np

    with open(path) as fh:
        smiles = [line.split(",")[0] for line in fh.read().splitlines()[1:]]
    pick = random.Random(0).sample(smiles, min(5000, len(smiles)))
    fps = np.stack([chem.morgan_bits(chem.parse(s)[0]) for s in pick])
    return {"novelty_vs_prior_data": round(sum(s not in known for s in smiles) / max(1, len(smiles)), 4),
            "intdiv1": round(internal_diversity(fps), 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("result", type=Path)
    ap.add_argument("--targets", default="pfalciparum,gsk3,jnk3")
    ap.add_argument("--methods", default="beam,swor,sample")
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--prior", default="chembl")
    ap.add_argument("--finetune-args", default="", help="extra lm finetune options, space-separated")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    res = json.loads(a.result.read_text()) if a.result.exists() else {"machine": machine(), "entries": {}}
    prior_data = canonical_set(a.prior if a.prior in ("chembl", "moses") else "chembl")
    if "sample_rate" not in res:
        secs = run([CHEMRNN, "-q", "lm", "sample", a.prior, "-n", "20000", "-o", str(a.out / "plain.smi")],
                   a.out / "plain.log")
        res["sample_rate"] = {"n": 20000, "seconds": secs, "per_s": round(20000 / secs, 1),
                              "note": "lm sample of the prior, model loading included"}
    for name in a.targets.split(","):
        train80, held20 = recovery_split(name)
        tr, ho = a.out / f"{name}_train80.smi", a.out / f"{name}_heldout20.smi"
        tr.write_text("\n".join(train80) + "\n")
        ho.write_text("\n".join(held20) + "\n")
        ft = a.out / f"ft_{name}"
        key_ft = f"{name}/finetune"
        if key_ft not in res["entries"]:
            if not (ft / "model" / "model.json").exists():
                secs = run([CHEMRNN, "lm", "finetune", a.prior, str(tr), "-o", str(ft), *a.finetune_args.split()],
                           a.out / f"ft_{name}.log")
            else:
                secs = None  # made by an earlier command (its training time is in metrics.json)
            m = json.loads((ft / "metrics.json").read_text())
            res["entries"][key_ft] = {"seconds": secs, "training_s": m["elapsed_s"], "steps": m["steps"],
                                      "epochs": m["epochs"], "best_epoch": m.get("best_epoch"),
                                      "best_val_nll": m.get("best_val_nll"), "stopped_early": m.get("stopped_early"),
                                      "train": m["train_molecules"], "val": m["val_size"]}
            a.result.write_text(json.dumps(res, indent=1))
        for method in a.methods.split(","):
            key = f"{name}/{method}/{a.n}"
            if key in res["entries"]:
                continue
            lib = a.out / f"lib_{name}_{method}_{a.n}.csv"
            summary_path = lib.with_name(lib.name + ".summary.json")
            secs = None
            if not summary_path.exists():
                secs = run([CHEMRNN, "lm", "library", str(ft / "model"), "-n", str(a.n), "-o", str(lib), "--method",
                            method, "--heldout", str(ho)], a.out / f"lib_{name}_{method}_{a.n}.log")
            s = json.loads(summary_path.read_text())
            curve = {p["library"]: p["recovered"] for p in s["heldout"]["curve"]}
            st = s["stats"]
            finished = st.get("finished", st.get("drawn"))
            res["entries"][key] = {
                "heldout": s["heldout"]["molecules"], "recovered": {str(k): curve.get(k) for k in
                                                                    (10_000, 50_000, 100_000) if k <= a.n},
                "fraction": s["heldout"]["fraction"], "written": s["written"], "seconds": secs or s["seconds"],
                "molecules_per_s": round(s["written"] / (secs or s["seconds"]), 1),
                "valid_of_finished": round(1 - st.get("invalid", 0) / max(1, finished), 4),
                "known_left_out": st.get("known"), "repeats": st.get("repeats"), "finished_or_drawn": finished,
                **library_figures(lib, prior_data)}
            a.result.write_text(json.dumps(res, indent=1))
            print(key, json.dumps(res["entries"][key]), flush=True)


if __name__ == "__main__":
    main()
