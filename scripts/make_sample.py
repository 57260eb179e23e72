"""Regenerate the shipped sample: 10,000 random ZINC250k molecules with logP, qed, SAS and TPSA.

Usage: python scripts/make_sample.py ../shared/data/zinc250k.csv.gz src/chemrnn/data/zinc_sample.csv.gz
The draw is random (seed 0), not the first rows. TPSA is computed with RDKit (CalcTPSA); logP, qed and SAS
are the columns of the source file (RDKit Crippen MolLogP, QED, SA score).
"""
import sys

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem import rdMolDescriptors

src, dst = sys.argv[1], sys.argv[2]
df = pd.read_csv(src)
rng = np.random.default_rng(0)
idx = np.sort(rng.choice(len(df), size=10_000, replace=False))
sample = df.iloc[idx].reset_index(drop=True)
sample["TPSA"] = [round(rdMolDescriptors.CalcTPSA(Chem.MolFromSmiles(s)), 4) for s in sample["smiles"]]
sample.to_csv(dst, index=False, float_format="%.6g", compression={"method": "gzip", "mtime": 0})
print(f"wrote {len(sample)} rows to {dst}")
