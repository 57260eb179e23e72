"""The ChEMBL prior's one command: its training data, then `chemrnn lm train`, resumable.

The data is the shared `chembl` training file minus every molecule of the held-out 20 % of the jnk3, gsk3 and
pfalciparum actives (bench_recovery.py's split: random.Random(0).shuffle, 80/20), matched by canonical SMILES,
so that recovery of held-out actives measures generation, not memory. Rerun the same command to resume; the
learning rate anneals over the time cap (--max-minutes), which keeps the run within 3 h on 2 CPU cores.

``--guacamol-clean`` also removes what GuacaMol removed from its own ChEMBL training set (ECFP4 Tanimoto > 0.323 to
any of its ten holdout drugs; needs ``pip install --no-deps guacamol==0.5.5`` for the drugs' file): a prior for the
goal-directed benchmark that has not seen the rediscovery targets or their close analogues.

``--augment N`` trains on N randomized SMILES of each molecule besides its canonical one (Arús-Pous et al. 2019: a
prior that reads any SMILES of a molecule, which fixed-core decoration needs; fine-tune it with ``lm finetune
--augment N`` too).

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/prior_chembl.py RUN_DIR [--max-minutes 165] [--guacamol-clean]
           [--augment N]
Then: python benchmarks/ship_prior.py RUN_DIR/run chembl --data-name chembl --note "..."
"""
import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import filter_like_guacamol, recovery_split  # noqa: E402

from chemrnn.chem import canonical_or_none  # noqa: E402
from chemrnn.datasets import path as dataset_path  # noqa: E402
from chemrnn.io import iter_lines  # noqa: E402

HELD_OUT_OF = ("jnk3", "gsk3", "pfalciparum")


def heldout_actives() -> set[str]:
    """Canonical SMILES of bench_recovery.py's held-out 20 % of each actives set."""
    return {canonical_or_none(s) for name in HELD_OUT_OF for s in recovery_split(name)[1]} - {None}


def write_training_file(target: Path, guacamol_clean: bool = False) -> tuple[int, int]:
    """``chembl`` train minus the held-out actives (and with ``guacamol_clean`` minus what GuacaMol's cleaning
    removes) into ``target``; returns (kept, removed)."""
    held, kept, removed = heldout_actives(), [], 0
    for _, line, _ in iter_lines(dataset_path("chembl")):
        smiles = line.split()[0] if line.strip() else ""
        if smiles and canonical_or_none(smiles) in held:
            removed += 1
        else:
            kept.append(line)
    if guacamol_clean:
        clean = set(filter_like_guacamol([line.split()[0] for line in kept if line.strip()])[0])
        removed += len(kept) - len(clean)
        kept = [line for line in kept if line.strip() and line.split()[0] in clean]
    tmp = target.with_suffix(".tmp")
    tmp.write_text("\n".join(kept) + "\n")
    tmp.replace(target)
    return len(kept), removed


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--max-minutes", default="165")
    ap.add_argument("--guacamol-clean", action="store_true", help="also remove what GuacaMol's cleaning removes")
    ap.add_argument("--augment", default="0", help="randomized SMILES of each molecule per epoch (0: canonical only)")
    args = ap.parse_args()
    args.run_dir.mkdir(parents=True, exist_ok=True)
    data = args.run_dir / ("chembl_guacamol_clean.smi" if args.guacamol_clean else "chembl_minus_heldout.smi")
    if not data.exists():
        print("kept %d, removed %d" % write_training_file(data, args.guacamol_clean), flush=True)
    chemrnn = str(Path(sys.executable).with_name("chemrnn"))
    sys.exit(subprocess.call([chemrnn, "lm", "train", "--data", str(data), "-o", str(args.run_dir / "run"),
                              "--preset", "cpu", "--dropout", "0.1", "--max-steps", "60000", "--max-minutes",
                              args.max_minutes, "--val-every", "1000", "--seed", "0", "--augment", args.augment]))
