"""Measured properties: chemrnn and chemprop on the same cross-validation folds of the MoleculeNet
regression sets in shared/data/experimental (lipo: logD7.4, esol: logS, freesolv: hydration free energy).

Usage:
  CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_experimental.py OUT_DIR [--sets esol,freesolv,lipo]
      [--splits random,scaffold] [--folds 5] [--only-folds 1,2] [--variants scratch,augment,augment_zinc,...]
      [--epochs N] [--batch-size N] [--chemprop /path/to/venv/bin/chemprop] [--chemprop-epochs 50] [--threads 1]

For each set and split method, the folds are ``chemrnn.labels.cv_splits(smiles, FOLDS, method, seed=0)`` (what
``chemrnn property train --folds FOLDS --split METHOD`` uses): each fold is a test set, ~10 % of the rows from the
other folds validate (early stopping), the rest train. Every fold's three sets are written to
``OUT_DIR/folds/SET/METHOD/foldK/{train,val,test}.csv`` (canonical SMILES, value), and both tools are trained on
exactly those files:

  chemrnn variants  scratch   the default property model (biGRU-256, sum read-out), trained from scratch
                    frozen    --init-from shipped --freeze-encoder (the MOSES prior's 3×LSTM-512, read-out only)
                    transfer  --init-from shipped (the prior's weights as the start, all layers trained)
                    augment   scratch with randomized SMILES: a new spelling of each molecule every epoch,
                              test predictions averaged over the canonical and 10 random SMILES;
                              --augment 10 --epochs 150 --patience 150 --batch-size 32 --lr 1e-3
                              --max-minutes 9 (cosine over the time cap), dropout 0.1
                    transfer_chembl  --init-from chembl (the shipped ChEMBL prior, all layers trained),
                              ≤ 15 epochs, --max-minutes 4.5
                    augment_zinc  augment, started from the shipped logP/TPSA property model (--init-from zinc:
                              biGRU-256 trained on ZINC250k's RDKit logP and TPSA; every layer but the output)
  chemprop          ``chemprop train`` with its default settings (D-MPNN, 50 epochs) on train/val/test.csv, then
                    ``chemprop predict`` on test.csv; installed in its own virtual environment (--chemprop: its CLI)

RMSE and MAE per fold on the test fold, mean ± sd over folds, wall time per tool, and the hardware go to
OUT_DIR/bench_experimental.json (updated after every fold, so a long run can be stopped and resumed: a finished
fold is not run again). Only --only-folds are run when given (the smoke test: --only-folds 1 --epochs 2).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402

TARGETS = {"lipo": "logD7.4", "esol": "logS", "freesolv": "dG_hydration_kcal_mol"}
DEFAULTS = {"max_epochs": 30, "patience": 5, "batch_size": 128}  # `property train`'s defaults
# the recipe of `augment` was chosen on fold 1 of the random folds of esol and freesolv (docs/benchmarks.md)
AUGMENT = {"augment": 10, "max_epochs": 150, "patience": 150, "batch_size": 32, "lr": 1e-3, "dropout": 0.1,
           "max_minutes": 9.0}
VARIANTS = {"scratch": {}, "frozen": {"init_from": "shipped", "freeze_encoder": True},
            "transfer": {"init_from": "shipped"}, "augment": AUGMENT,
            # the ChEMBL prior (3×LSTM-512) fine-tuned, capped at 4.5 minutes a fold (cosine over the cap)
            "transfer_chembl": {"init_from": "chembl", "max_epochs": 15, "max_minutes": 4.5},
            # the recipe, started from the shipped logP/TPSA model (ZINC250k, RDKit labels): all but its output
            "augment_zinc": {**AUGMENT, "init_from": "zinc"}}


def write_folds(out: Path, name: str, method: str, folds: int):
    """The labelled molecules of a set and its ``cv_splits`` folds, each written as train/val/test CSVs."""
    from chemrnn.labels import cv_splits, load_labelled

    target = TARGETS[name]
    smiles, Y, rejects = load_labelled(name, [target])
    splits = cv_splits(smiles, folds, method, seed=0)
    for k, parts in enumerate(splits, 1):
        d = out / "folds" / name / method / f"fold{k}"
        d.mkdir(parents=True, exist_ok=True)
        for part, idx in zip(("train", "val", "test"), parts):
            with open(d / f"{part}.csv", "w", newline="") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(["smiles", target])
                w.writerows([smiles[i], repr(float(Y[i, 0]))] for i in idx)
    return smiles, Y, splits, len(rejects)


def metrics(y, p) -> dict:
    from chemrnn.metrics import regression_metrics

    m = regression_metrics(y, p)
    return {"RMSE": m["RMSE"], "MAE": m["MAE"], "R2": m["R2"], "n": m["n"]}


def run_chemrnn(out: Path, name: str, method: str, k: int, split, variant: str, args) -> dict:
    """One chemrnn model on fold ``k`` (1-based), through ``train_property_model`` with the fold's explicit
    split (the same rows as the fold files)."""
    from chemrnn.training import PropertyTrainConfig, train_property_model

    given = {"max_epochs": args.epochs, "patience": args.patience, "batch_size": args.batch_size}
    settings = {**DEFAULTS, **VARIANTS[variant], **{k: v for k, v in given.items() if v is not None}}
    cfg = PropertyTrainConfig(data=name, targets=(TARGETS[name],), split=method, seed=0, device="cpu", **settings)
    run = out / "runs" / f"chemrnn_{variant}" / name / method / f"fold{k}"
    t0 = time.perf_counter()
    m = train_property_model(cfg, run, verbose=False, splits=[split])
    seconds = time.perf_counter() - t0
    r = m[TARGETS[name]]
    return {"RMSE": r["RMSE"], "MAE": r["MAE"], "R2": r["R2"], "n": r["n"], "wall_s": round(seconds, 1),
            "train_s": m["_run"]["seconds"], "epochs": m["_run"]["epochs"], "best_epoch": m["_run"]["best_epoch"],
            "settings": settings}


def run_chemprop(out: Path, name: str, method: str, k: int, args) -> dict:
    """``chemprop train`` (default settings) on the fold's train/val/test.csv and ``chemprop predict`` on
    test.csv; the metrics are computed here from its predictions, as for chemrnn."""
    d = out / "folds" / name / method / f"fold{k}"
    run = out / "runs" / "chemprop" / name / method / f"fold{k}"
    run.mkdir(parents=True, exist_ok=True)
    target = TARGETS[name]
    train = [args.chemprop, "train", "--data-path", str(d / "train.csv"), str(d / "val.csv"), str(d / "test.csv"),
             "--task-type", "regression", "--smiles-columns", "smiles", "--target-columns", target,
             "--output-dir", str(run / "train"), "--num-workers", "0"]
    if args.chemprop_epochs:
        train += ["--epochs", str(args.chemprop_epochs)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    t0 = time.perf_counter()
    with open(run / "train.log", "w") as log:
        rc = subprocess.call(train, stdout=log, stderr=subprocess.STDOUT, env=env)
    if rc:
        raise SystemExit(f"chemprop train failed ({rc}); see {run / 'train.log'}")
    train_s = time.perf_counter() - t0
    models = sorted((run / "train").rglob("best*.pt"))
    if not models:
        raise SystemExit(f"chemprop wrote no best*.pt under {run / 'train'}")
    preds = run / "preds.csv"
    predict = [args.chemprop, "predict", "--test-path", str(d / "test.csv"), "--smiles-columns", "smiles",
               "--model-paths", str(models[0]), "--preds-path", str(preds), "--num-workers", "0"]
    with open(run / "predict.log", "w") as log:
        rc = subprocess.call(predict, stdout=log, stderr=subprocess.STDOUT, env=env)
    if rc:
        raise SystemExit(f"chemprop predict failed ({rc}); see {run / 'predict.log'}")
    seconds = time.perf_counter() - t0
    with open(d / "test.csv") as fh:
        y = np.array([float(r[target]) for r in csv.DictReader(fh)])
    with open(preds) as fh:
        rows = list(csv.DictReader(fh))
    col = target if target in rows[0] else [c for c in rows[0] if c != "smiles"][-1]
    p = np.array([float(r[col]) for r in rows])
    return {**metrics(y, p), "wall_s": round(seconds, 1), "train_s": round(train_s, 1),
            "model": str(models[0].relative_to(out))}


def summarize(folds: dict) -> dict:
    """Mean ± sd (over folds) of RMSE and MAE, and the total wall time."""
    done = [v for v in folds.values()]
    out = {"folds_run": len(done), "wall_s": round(sum(v["wall_s"] for v in done), 1)}
    for key in ("RMSE", "MAE", "R2"):
        vals = [v[key] for v in done]
        out[key] = float(np.mean(vals))
        out[f"{key}_sd"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--sets", default="esol,freesolv,lipo")
    ap.add_argument("--splits", default="random,scaffold")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only-folds", default="", help="comma-separated 1-based folds to run (default: all)")
    ap.add_argument("--variants", default="scratch",
                    help=f"chemrnn variants, comma-separated: {','.join(VARIANTS)} or none")
    ap.add_argument("--epochs", type=int, help="chemrnn's most epochs (default: the variant's, else 30)")
    ap.add_argument("--patience", type=int, help="early-stopping patience (default: the variant's, else 5)")
    ap.add_argument("--batch-size", type=int, help="chemrnn's training batch (default: the variant's, else 128)")
    ap.add_argument("--chemprop", default="", help="chemprop's CLI (its own venv); empty: chemprop is not run")
    ap.add_argument("--chemprop-epochs", type=int, default=0, help="0: chemprop's default (50)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for each tool (the machine is shared)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    path = out / "bench_experimental.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result["machine"] = {**machine(), "threads_per_tool": args.threads}
    result["settings"] = {"folds": args.folds, "chemrnn_defaults": DEFAULTS, "chemrnn_variants": VARIANTS,
                          "overrides": {"max_epochs": args.epochs, "patience": args.patience,
                                        "batch_size": args.batch_size},
                          "chemprop_epochs": args.chemprop_epochs or "default (50)", "seed": 0,
                          "command": " ".join(sys.argv)}
    if args.chemprop:
        v = subprocess.run([str(Path(args.chemprop).with_name("python")), "-c",
                            "import chemprop, torch; print(chemprop.__version__, torch.__version__)"],
                           capture_output=True, text=True).stdout.split()
        result["settings"]["chemprop_version"], result["settings"]["chemprop_torch"] = (v + ["?", "?"])[:2]
    only = {int(x) for x in args.only_folds.split(",") if x.strip()}
    variants = [v for v in args.variants.split(",") if v and v != "none"]
    if set(variants) - set(VARIANTS):
        raise SystemExit(f"unknown variant(s) {', '.join(sorted(set(variants) - set(VARIANTS)))}; "
                         f"known: {', '.join(VARIANTS)}")
    tools = [f"chemrnn_{v}" for v in variants] + (["chemprop"] if args.chemprop else [])
    for name in args.sets.split(","):
        for method in args.splits.split(","):
            smiles, Y, splits, rejected = write_folds(out, name, method, args.folds)
            entry = result.setdefault(name, {}).setdefault(method, {})
            entry["molecules"], entry["rejected"] = len(smiles), rejected
            entry["fold_sizes"] = [[len(p) for p in s] for s in splits]
            for tool in tools:
                per = entry.setdefault(tool, {}).setdefault("folds", {})
                for k, split in enumerate(splits, 1):
                    if (only and k not in only) or str(k) in per:
                        continue
                    print(f"{name} {method} fold {k}: {tool}", flush=True)
                    if tool == "chemprop":
                        per[str(k)] = run_chemprop(out, name, method, k, args)
                    else:
                        per[str(k)] = run_chemrnn(out, name, method, k, split, tool.split("_", 1)[1], args)
                    print(f"  RMSE {per[str(k)]['RMSE']:.3f} MAE {per[str(k)]['MAE']:.3f} "
                          f"({per[str(k)]['wall_s']} s)", flush=True)
                    entry[tool].update(summarize(per))
                    path.write_text(json.dumps(result, indent=1))
    path.write_text(json.dumps(result, indent=1))
    print(table(result))


def table(result: dict) -> str:
    """The markdown table of docs/benchmarks.md: one row per set, split and tool."""
    lines = ["| set | split | tool | folds | RMSE (mean ± sd) | MAE (mean ± sd) | R² | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    for name in TARGETS:
        for method, entry in result.get(name, {}).items():
            for tool, r in entry.items():
                if isinstance(r, dict) and "RMSE" in r:
                    lines.append(f"| {name} | {method} | {tool} | {r['folds_run']} | {r['RMSE']:.3f} ± "
                                 f"{r['RMSE_sd']:.3f} | {r['MAE']:.3f} ± {r['MAE_sd']:.3f} | {r['R2']:.3f} | "
                                 f"{r['wall_s']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
