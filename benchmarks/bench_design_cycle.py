"""Segler's simulated design cycle on real targets (Segler et al. 2018, "simulating the design-make-test cycle").

For each target: a random 80/20 split (seed 0) of the shared actives file; a target-activity model (random forest
on Morgan counts) trained on the 80 % vs ChEMBL decoys; then, from the prior (``--prior``, default ``chembl``),
  - ``segler``: rounds of sample → score → fine-tune on the molecules predicted active,
  - ``reinvent``: reinforcement learning on p(active) with a scaffold diversity filter,
  - ``finetune``: plain transfer learning (fine-tune the prior on the 80 % actives, then sample), the paper's
    focused-library baseline, with the same number of sampled molecules.
After each round of ``per_round`` sampled molecules: fraction predicted active (p ≥ 0.5, of the valid), validity,
uniqueness, novelty w.r.t. the training actives, internal diversity (IntDiv1), and how many held-out 20 % actives
have been generated so far.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_design_cycle.py OUT_DIR TARGET [TARGET ...]
       [--rounds 8] [--per-round 1000] [--methods segler,reinvent,finetune] [--trees 100] [--prior chembl]
The fine-tuned model of ``finetune`` is OUT_DIR/ft_TARGET/model: an existing one (e.g. bench_recovery.py's, same
split and recipe, checked: same prior, 80 % file by hash, 10 epochs) is sampled as it is instead of being trained again.
A rerun must keep --prior/--rounds/--per-round/--trees/--decoy-ratio (else: another OUT_DIR).
Results go to OUT_DIR/design_cycle.json after every method (rerunning skips finished ones).
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

from chemrnn import chem  # noqa: E402
from chemrnn.datasets import path as dataset_path  # noqa: E402
from chemrnn.io import load_smiles_list  # noqa: E402
from chemrnn.metrics import internal_diversity  # noqa: E402


def round_metrics(smiles: list[str], activity, train: set[str], heldout: set[str], found: set[str]) -> dict:
    canon = [chem.canonical_or_none(s) if s else None for s in smiles]
    valid = [c for c in canon if c]
    uniq = sorted(set(valid))
    p = activity.predict(uniq) if uniq else np.zeros(0)
    found |= heldout & set(uniq)
    fps = np.stack([chem.morgan_bits(chem.mol(s)) for s in uniq[:3000]]) if uniq else None
    return {"sampled": len(smiles), "validity": len(valid) / max(1, len(smiles)),
            "uniqueness": len(uniq) / max(1, len(valid)),
            "predicted_active": float(np.mean(p >= 0.5)) if len(p) else 0.0,
            "mean_p_active": float(np.mean(p)) if len(p) else 0.0,
            "novelty": len(set(uniq) - train) / max(1, len(uniq)),
            "intdiv1": internal_diversity(fps) if fps is not None and len(fps) > 1 else 0.0,
            "heldout_found_so_far": len(found), "heldout_fraction_so_far": len(found) / max(1, len(heldout))}


def run_design(method, prior, activity_path, rounds, per_round, train, heldout, activity):
    from chemrnn.design import DesignConfig, DesignRun
    from chemrnn.scoring import ScoringFunction

    scoring = ScoringFunction.from_config({"component": [{"type": "activity", "model": str(activity_path)}]})
    if method == "segler":
        cfg = DesignConfig(optimizer="segler", prior=prior, budget=rounds * per_round, batch_size=per_round,
                           options={"threshold": 0.5, "top_k": 100, "epochs": 2, "lr": 5e-4},
                           diversity_filter={"kind": "none", "bucket_size": 25, "min_score": 0.4})
    else:
        cfg = DesignConfig(optimizer="reinvent", prior=prior, budget=rounds * per_round, batch_size=125,
                           options={"sigma": 120, "lr": 5e-4},
                           diversity_filter={"kind": "scaffold", "bucket_size": 25, "min_score": 0.4})
    run = DesignRun(cfg, scoring)
    found: set[str] = set()
    out, window, t0 = [], [], time.perf_counter()
    while run.scored < cfg.budget:
        step = run.run_step()
        window += [r["smiles"] for r in step["rows"]]
        if len(window) >= per_round:
            m = round_metrics(window[:per_round], activity, train, heldout, found)
            m.update({"round": len(out) + 1, "scored": run.scored, "seconds": round(time.perf_counter() - t0, 1)})
            out.append(m)
            print(method, json.dumps(m), flush=True)
            window = window[per_round:]
    return out


FT_EPOCHS = 10


def reused_finetune_seconds(ft_dir: Path, prior: str, train80_path: Path) -> float | None:
    """Check that an existing fine-tuned model in ``ft_dir`` is this benchmark's recipe (same prior, same 80 % file
    by hash, 10 epochs); stop with the reason if not. Returns its training seconds where its run recorded them."""
    from chemrnn.io import sha256_of

    try:
        rec = json.loads((ft_dir / "config.json").read_text())
    except (OSError, ValueError):
        raise SystemExit(f"{ft_dir}: a model without its run record (config.json); remove the folder to "
                         "retrain") from None
    cfg, want = rec.get("config", {}), {"init_from": prior, "epochs": FT_EPOCHS, "lr": 5e-4, "augment": 0}
    bad = [f"{k} {cfg.get(k)!r} (this run: {v!r})" for k, v in want.items() if cfg.get(k) != v]
    if rec.get("data", {}).get("sha256") != sha256_of(train80_path):
        bad.append(f"fine-tuning data {rec.get('data', {}).get('path')} differs from {train80_path}")
    if bad:
        raise SystemExit(f"{ft_dir}: not this benchmark's fine-tuned model: {'; '.join(bad)}; remove the folder "
                         f"to retrain it, or give another OUT_DIR")
    try:
        return json.loads((ft_dir / "metrics.json").read_text()).get("elapsed_s")
    except (OSError, ValueError):
        return None


def run_finetune(name, prior, out_dir, train80_path, rounds, per_round, train, heldout, activity):
    import subprocess

    from chemrnn.api import sample_smiles

    chemrnn = str(Path(sys.executable).with_name("chemrnn"))
    t0 = time.perf_counter()
    if (out_dir / f"ft_{name}" / "model").exists():  # reused: its own record holds its training time
        ft_s = reused_finetune_seconds(out_dir / f"ft_{name}", prior, train80_path)
    else:
        subprocess.run([chemrnn, "-q", "lm", "finetune", prior, str(train80_path), "-o",
                        str(out_dir / f"ft_{name}"), "--epochs", str(FT_EPOCHS), "--restart"], check=True)
        ft_s = round(time.perf_counter() - t0, 1)
    res = sample_smiles(str(out_dir / f"ft_{name}" / "model"), rounds * per_round, seed=0)
    found: set[str] = set()
    out = []
    for r in range(rounds):
        m = round_metrics(res["written"][r * per_round:(r + 1) * per_round], activity, train, heldout, found)
        m.update({"round": r + 1, "scored": (r + 1) * per_round, "finetune_seconds": ft_s})
        out.append(m)
        print("finetune", json.dumps(m), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("targets", nargs="+")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--per-round", type=int, default=1000)
    ap.add_argument("--methods", default="segler,reinvent,finetune")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--decoy-ratio", type=float, default=3.0)
    ap.add_argument("--prior", default="chembl", help="language model to start from (chembl, moses, a path)")
    args = ap.parse_args()
    from chemrnn.scoring.activity import ActivityConfig, ActivityModel, train_activity_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res_path = out / "design_cycle.json"
    results = json.loads(res_path.read_text()) if res_path.exists() else {}
    before = results.get("_setup", {})
    for key in ("prior", "rounds", "per_round", "trees", "decoy_ratio"):
        if key in before and before[key] != getattr(args, key):
            raise SystemExit(f"{res_path}: its results were made with --{key.replace('_', '-')} {before[key]!r}, "
                             f"not {getattr(args, key)!r}; give another OUT_DIR")
    results["_setup"] = {**vars(args), "machine": machine(), "command": " ".join(sys.argv)}
    decoys = load_smiles_list(dataset_path("chembl"))
    for name in args.targets:
        smiles = load_smiles_list(dataset_path(name))
        random.Random(0).shuffle(smiles)
        cut = int(0.8 * len(smiles))
        train80, held = smiles[:cut], smiles[cut:]
        (out / f"{name}_train80.smi").write_text("\n".join(train80) + "\n")
        train = {c for c in chem.canonical_all(train80) if c}
        heldout = {c for c in chem.canonical_all(held) if c}
        res = results.setdefault(name, {"train80": len(train), "heldout20": len(heldout)})
        act_path = out / f"{name}_activity.chemrnn"
        if not act_path.exists():
            t0 = time.perf_counter()
            model, m = train_activity_model(train80, decoys, ActivityConfig(n_trees=args.trees,
                                                                            decoy_ratio=args.decoy_ratio))
            model.save(act_path)
            res["activity_model"] = {**m, "seconds": round(time.perf_counter() - t0, 1)}
            print(name, "activity model", json.dumps(res["activity_model"]), flush=True)
        activity = ActivityModel.load(act_path)
        for method in args.methods.split(","):
            if method in res:
                continue
            t0 = time.perf_counter()
            if method == "finetune":
                rounds = run_finetune(name, args.prior, out, out / f"{name}_train80.smi", args.rounds,
                                      args.per_round, train, heldout, activity)
            else:
                rounds = run_design(method, args.prior, act_path, args.rounds, args.per_round, train, heldout, activity)
            res[method] = {"rounds": rounds, "seconds": round(time.perf_counter() - t0, 1)}
            res_path.write_text(json.dumps(results, indent=1, default=float))
    res_path.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
