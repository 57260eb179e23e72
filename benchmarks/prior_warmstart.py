"""A ChEMBL prior warm-started from the MOSES prior: the MOSES prior's weights and vocabulary, the vocabulary
extended by the tokens of ChEMBL it lacks (each new token starts as unlikely as its rarest), then training continued
on prior_chembl.py's data (the shared `chembl` training file minus the held-out 20 % of the jnk3, gsk3 and
pfalciparum actives), capped in time (the cosine schedule anneals over the cap), resumable: rerun the command.

It is ``chemrnn lm finetune moses DATA --unknown extend`` with a prior's batch and learning rate, validation on
5,000 held-out molecules every 1,000 steps, the best validation weights kept.

``--from chembl`` continues the shipped ChEMBL prior instead (a prior trained longer, over another sitting);
``--with-valid`` adds the shared ``chembl:valid`` file (49,936 more ChEMBL molecules, minus the same held-out
actives) to the training data.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/prior_warmstart.py RUN_DIR [--max-minutes 60] \
           [--from moses] [--lr 1e-3] [--with-valid]
Then:  CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_library.py OUT RESULT.json --prior RUN_DIR/run/model
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402
from prior_chembl import heldout_actives, write_training_file  # noqa: E402

from chemrnn.chem import canonical_or_none  # noqa: E402
from chemrnn.datasets import path as dataset_path  # noqa: E402
from chemrnn.io import iter_lines  # noqa: E402

from chemrnn.training import finetune_config, train_language_model  # noqa: E402

def append_valid(target: Path) -> tuple[int, int]:
    """Append the shared ``chembl:valid`` molecules, minus the held-out actives, to ``target``."""
    held, kept, removed = heldout_actives(), [], 0
    for _, line, _ in iter_lines(dataset_path("chembl:valid")):
        smiles = line.split()[0] if line.strip() else ""
        if smiles and canonical_or_none(smiles) in held:
            removed += 1
        elif smiles:
            kept.append(line)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(target.read_text() + "\n".join(kept) + "\n")
    tmp.replace(target)
    return len(kept), removed


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--max-minutes", type=float, default=60.0)
    ap.add_argument("--from", dest="prior", default="moses")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--with-valid", action="store_true", help="also train on the shared chembl:valid file")
    args = ap.parse_args()
    args.run_dir.mkdir(parents=True, exist_ok=True)
    data = args.run_dir / "chembl_minus_heldout.smi"
    if not data.exists():
        print("kept %d, removed %d" % write_training_file(data), flush=True)
        if args.with_valid:
            print("chembl:valid: kept %d, removed %d" % append_valid(data), flush=True)
    cfg = finetune_config(args.prior, data, epochs=20, batch_size=128, lr=args.lr, val_size=5000, patience=None,
                          unknown="extend", max_minutes=args.max_minutes, val_every=1000, checkpoint_every=500,
                          warmup_steps=200, min_lr_ratio=0.05, dropout=0.1,
                          precision="bf16-mixed")
    metrics = train_language_model(cfg, args.run_dir / "run")
    result = {"prior": args.prior, "with_valid": args.with_valid, "max_minutes": args.max_minutes, "lr": args.lr, "metrics": metrics,
              "machine": machine()}
    (args.run_dir / "warmstart.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({k: metrics.get(k) for k in ("val_nll", "best_val_nll", "steps", "epochs", "elapsed_s")}))
