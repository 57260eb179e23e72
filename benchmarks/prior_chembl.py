"""The ChEMBL prior's one command (issue 11): its training data, then `chemrnn lm train`, resumable.

The data is the shared `chembl` training file minus every molecule of the held-out 20 % of the jnk3, gsk3 and
pfalciparum actives (bench_recovery.py's split: random.Random(0).shuffle, 80/20), matched by canonical SMILES,
so that recovery of held-out actives measures generation, not memory. Rerun the same command to resume; the
learning rate anneals over the time cap (--max-minutes), which keeps the run within 3 h on 2 CPU cores.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/prior_chembl.py RUN_DIR [--max-minutes 165]
Then: python benchmarks/ship_prior.py RUN_DIR/run chembl --data-name chembl --note "..."
"""
import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recovery_split  # noqa: E402

from chemrnn.chem import canonical_or_none  # noqa: E402
from chemrnn.datasets import path as dataset_path  # noqa: E402
from chemrnn.io import iter_lines  # noqa: E402

HELD_OUT_OF = ("jnk3", "gsk3", "pfalciparum")


def heldout_actives() -> set[str]:
    """Canonical SMILES of bench_recovery.py's held-out 20 % of each actives set."""
    return {canonical_or_none(s) for name in HELD_OUT_OF for s in recovery_split(name)[1]} - {None}


def write_training_file(target: Path) -> tuple[int, int]:
    """``chembl`` train minus the held-out actives into ``target``; returns (kept, removed)."""
    held, kept, removed = heldout_actives(), [], 0
    for _, line, _ in iter_lines(dataset_path("chembl")):
        smiles = line.split()[0] if line.strip() else ""
        if smiles and canonical_or_none(smiles) in held:
            removed += 1
        else:
            kept.append(line)
    target.write_text("\n".join(kept) + "\n")
    return len(kept), removed


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--max-minutes", default="165")
    args = ap.parse_args()
    args.run_dir.mkdir(parents=True, exist_ok=True)
    data = args.run_dir / "chembl_minus_heldout.smi"
    if not data.exists():
        print("kept %d, removed %d held-out actives" % write_training_file(data), flush=True)
    chemrnn = str(Path(sys.executable).with_name("chemrnn"))
    sys.exit(subprocess.call([chemrnn, "lm", "train", "--data", str(data), "-o", str(args.run_dir / "run"),
                              "--preset", "cpu", "--dropout", "0.1", "--max-steps", "60000", "--max-minutes",
                              args.max_minutes, "--val-every", "1000", "--seed", "0"]))
