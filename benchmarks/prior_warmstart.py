"""A ChEMBL prior warm-started from the MOSES prior: the MOSES prior's weights and vocabulary, the vocabulary
extended by the tokens of ChEMBL it lacks (each new token starts as unlikely as its rarest), then training continued
on prior_chembl.py's data (the shared `chembl` training file minus the held-out 20 % of the jnk3, gsk3 and
pfalciparum actives), capped in time (the cosine schedule anneals over the cap), resumable: rerun the command.

It is ``chemrnn lm finetune moses DATA --unknown extend`` with a prior's batch and learning rate, validation on
5,000 held-out molecules every 1,000 steps, the best validation weights kept.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/prior_warmstart.py RUN_DIR [--max-minutes 60] \
           [--from moses] [--lr 1e-3]
Then:  CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_library.py OUT RESULT.json --prior RUN_DIR/run/model
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402
from prior_chembl import write_training_file  # noqa: E402

from chemrnn.training import finetune_config, train_language_model  # noqa: E402

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--max-minutes", type=float, default=60.0)
    ap.add_argument("--from", dest="prior", default="moses")
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    args.run_dir.mkdir(parents=True, exist_ok=True)
    data = args.run_dir / "chembl_minus_heldout.smi"
    if not data.exists():
        print("kept %d, removed %d" % write_training_file(data), flush=True)
    cfg = finetune_config(args.prior, data, epochs=20, batch_size=128, lr=args.lr, val_size=5000, patience=None,
                          unknown="extend", max_minutes=args.max_minutes, val_every=1000, checkpoint_every=500,
                          warmup_steps=200, min_lr_ratio=0.05)
    metrics = train_language_model(cfg, args.run_dir / "run")
    result = {"prior": args.prior, "max_minutes": args.max_minutes, "lr": args.lr, "metrics": metrics,
              "machine": machine()}
    (args.run_dir / "warmstart.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({k: metrics.get(k) for k in ("val_nll", "best_val_nll", "steps", "epochs", "elapsed_s")}))
