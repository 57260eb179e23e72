"""How close a language model's training set comes to GuacaMol's rediscovery/similarity targets.

GuacaMol removed molecules close to its target drugs from its ChEMBL training set; a prior trained on another set
may have seen the targets or their analogues, which flatters its similarity scores. For each target: the most
similar training molecule (Tanimoto on ECFP4 count fingerprints, radius 2) and whether the target itself is there.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/guacamol_target_overlap.py [DATASET] [-o OUT.json]
(DATASET: a dataset name or file, default ``chembl``, the ChEMBL prior's training set)
"""
from __future__ import annotations

import argparse
import json

from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from chemrnn.datasets import resolve_input, smiles_column
from chemrnn.io import load_smiles_list

# the targets of GuacaMol v2's rediscovery and similarity tasks (Brown et al. 2019)
TARGETS = {
    "celecoxib": "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",
    "troglitazone": "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O",
    "thiothixene": "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1",
    "aripiprazole": "Clc4cccc(N3CCN(CCCCOc2ccc1c(NC(=O)CC1)c2)CC3)c4Cl",
    "albuterol": "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",
    "mestranol": "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default="chembl")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2)
    target_fp = {k: gen.GetCountFingerprint(Chem.MolFromSmiles(s)) for k, s in TARGETS.items()}
    target_key = {k: Chem.MolToSmiles(Chem.MolFromSmiles(s), isomericSmiles=False) for k, s in TARGETS.items()}
    best = {k: (0.0, "") for k in TARGETS}
    exact = {k: False for k in TARGETS}
    smiles = load_smiles_list(resolve_input(args.dataset), smiles_column(args.dataset))
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        fp = gen.GetCountFingerprint(mol)
        key = Chem.MolToSmiles(mol, isomericSmiles=False)
        for k, tfp in target_fp.items():
            sim = DataStructs.TanimotoSimilarity(tfp, fp)
            exact[k] |= key == target_key[k]
            if sim > best[k][0]:
                best[k] = (sim, s)
    out = {"dataset": args.dataset, "molecules": len(smiles),
           "targets": {k: {"max_tanimoto": round(best[k][0], 3), "nearest": best[k][1], "target_in_set": exact[k]}
                       for k in TARGETS}}
    for k, r in out["targets"].items():
        print(f"{k:13s} max Tanimoto {r['max_tanimoto']:.3f}  target in set: {r['target_in_set']}  {r['nearest']}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
