"""Regenerate the shipped reference sample: 5,000 random MOSES test molecules (RDKit-canonical).

Usage:
  python scripts/make_reference_sample.py ../shared/data/moses_test.csv.gz \
      src/chemrnn/data/moses_test_sample.smi.gz
The MOSES test file is ordered, so the draw is random (Python random.Random(0).sample), not the first rows.
"""
import gzip
import random
import sys

from chemrnn.io import load_smiles_list
from chemrnn.chem import canonical_or_none

src, dst = sys.argv[1], sys.argv[2]
smiles = load_smiles_list(src, "SMILES")
draw = random.Random(0).sample(smiles, 5000)
canon = [canonical_or_none(s) for s in draw]
with gzip.GzipFile(dst, "wb", mtime=0) as fh:
    fh.write(("\n".join(c for c in canon if c) + "\n").encode())
print(f"wrote {sum(c is not None for c in canon)} molecules to {dst}")
