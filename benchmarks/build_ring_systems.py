"""The ring-system table the quality filter ships (src/chemrnn/data/chembl_ring_systems.tsv.gz): every ring system
(chemrnn.chem.ring_systems) of the shared `chembl` training file with the number of molecules it occurs in, most
frequent first. A designed molecule with a ring system not in this table is flagged "ring system never seen in
ChEMBL". Also prints how many molecules of the `chembl:valid` file (not read for the table) pass that check.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/build_ring_systems.py [--out src/chemrnn/data/chembl_ring_systems.tsv.gz]
"""
import argparse
import gzip
import sys
from collections import Counter
from pathlib import Path

from chemrnn import chem
from chemrnn.datasets import path as dataset_path
from chemrnn.io import iter_lines, sha256_of

ROOT = Path(__file__).resolve().parent.parent


def smiles_of(name: str):
    for _, line, _ in iter_lines(dataset_path(name)):
        if line.strip():
            yield line.split()[0]


def count_systems(smiles) -> tuple[Counter, int]:
    counts, n = Counter(), 0
    for s in smiles:
        m = chem.mol(s)
        if m is None:
            continue
        n += 1
        counts.update(chem.ring_systems(m))
    return counts, n


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "src/chemrnn/data/chembl_ring_systems.tsv.gz")
    args = ap.parse_args()
    counts, n = count_systems(smiles_of("chembl"))
    source = dataset_path("chembl")
    tmp = args.out.with_suffix(".tmp")
    with gzip.open(tmp, "wt", compresslevel=9) as fh:
        fh.write(f"# ring systems of {n:,} molecules of chembl ({source.name}, sha256 {sha256_of(source)}); "
                 f"built by benchmarks/build_ring_systems.py\n")
        fh.write("ring_system\tmolecules\n")
        for system, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            fh.write(f"{system}\t{k}\n")
    tmp.replace(args.out)
    known = set(counts)
    valid = [s for s in smiles_of("chembl:valid")]
    passed = sum(1 for s in valid if (m := chem.mol(s)) is not None and set(chem.ring_systems(m)) <= known)
    print(f"{len(counts):,} ring systems from {n:,} molecules → {args.out} ({args.out.stat().st_size / 1e3:.0f} kB); "
          f"chembl:valid molecules whose ring systems are all known: {passed:,} of {len(valid):,} "
          f"({passed / len(valid):.2%})", file=sys.stderr)
