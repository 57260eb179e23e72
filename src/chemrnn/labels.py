"""Labelled data for property models: values from a CSV's columns (or computed with RDKit), and splits.

Labels: any numeric column of a CSV can be a target; ``logP`` (RDKit Crippen MolLogP) and ``TPSA`` (RDKit
CalcTPSA) are computed, and cached, when the file lacks them. Splits: random or Bemis–Murcko scaffold, seeded.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from . import chem
from .errors import InputError

COMPUTABLE = {"logP", "TPSA"}


# ------------------------------------------------------------------------------------------- data
def load_labelled(source, targets: list[str], column: str | None = None, jobs: int = 0):
    """``(smiles, Y, rejects)``: canonical SMILES with their target values, from a CSV/TSV or dataset name.

    Missing ``logP``/``TPSA`` columns are computed with RDKit; other missing targets are an error naming the
    columns that exist. Rows with an empty or invalid SMILES or a non-numeric target are rejected with a reason;
    each reject is ``(file line, reason, SMILES field)``, blank lines included in the line count.
    """
    import pandas as pd

    from .datasets import resolve_input, smiles_column

    path = resolve_input(source)
    col = column or smiles_column(source)
    try:
        # every cell as text, no NA guessing: an empty SMILES cell stays "" (not NaN, not the string "nan"), and
        # blank lines stay rows so that reject line numbers are file lines
        df = pd.read_csv(path, sep="\t" if ".tsv" in path.name else ",", dtype=str, keep_default_na=False,
                         skip_blank_lines=False)
    except (OSError, ValueError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"cannot read as CSV ({exc})", path) from None
    names = {c.lower(): c for c in df.columns}
    col = col if col in df.columns else names.get((col or "smiles").lower())
    if col is None:
        raise InputError(f"no SMILES column (columns: {', '.join(map(str, df.columns[:20]))})", path)
    smiles = [str(s).strip() for s in df[col].tolist()]
    canon = chem.canonical_all(smiles, jobs)
    Y = np.full((len(df), len(targets)), np.nan)
    for k, t in enumerate(targets):
        if t in df.columns:
            Y[:, k] = pd.to_numeric(df[t], errors="coerce").to_numpy(dtype=float)
        elif t not in COMPUTABLE:
            raise InputError(f"no target column {t!r} (columns: {', '.join(map(str, df.columns[:20]))}); "
                             f"computable without a column: {', '.join(sorted(COMPUTABLE))}", path)
    missing = [k for k, t in enumerate(targets) if t not in df.columns]
    if missing:
        computed = _computed_labels(path, [c or "" for c in canon])
        for k in missing:
            Y[:, k] = computed[targets[k]]
    keep, rejects = [], []
    for i, (s, c) in enumerate(zip(smiles, canon)):
        if not s:
            rejects.append((i + 2, "empty SMILES", s))
        elif c is None:
            rejects.append((i + 2, chem.canonical(s)[1] or "invalid SMILES", s))
        elif not np.isfinite(Y[i]).all():
            rejects.append((i + 2, "missing or non-numeric target value", s))
        else:
            keep.append(i)
    return [canon[i] for i in keep], Y[keep], rejects


def _computed_labels(path: Path, canon: list[str]) -> dict[str, np.ndarray]:
    """RDKit logP and TPSA of every row, cached next to the user cache by the file's SHA-256."""
    from .datasets import cache_dir, sha256_of
    from .utils import pool_map

    cached = cache_dir() / "labels" / f"{sha256_of(path)[:24]}.npz"
    if cached.exists():
        with np.load(cached, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    rows = pool_map(_descriptor_batch, canon)
    out = {t: np.array([r[t] if r else np.nan for r in rows], dtype=float) for t in sorted(COMPUTABLE)}
    cached.parent.mkdir(parents=True, exist_ok=True)
    from .io import atomic_write

    with atomic_write(cached, "wb") as fh:
        np.savez(fh, **out)
    return out


def _descriptor_batch(smiles: list[str]):
    return [chem.descriptors(s) if s else None for s in smiles]


def split_indices(smiles: list[str], method: str = "random", fractions=(0.8, 0.1, 0.1), seed: int = 0):
    """Train/validation/test indices: ``random``, or ``scaffold`` (Bemis–Murcko groups never straddle splits;
    groups larger than half the test set go to training, the rest are shuffled by ``seed``)."""
    n = len(smiles)
    rng = random.Random(seed)
    if method == "random":
        idx = list(range(n))
        rng.shuffle(idx)
        a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
        return np.array(sorted(idx[:a])), np.array(sorted(idx[a:b])), np.array(sorted(idx[b:]))
    if method != "scaffold":
        raise InputError(f"split must be random or scaffold, not {method!r}")
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        groups.setdefault(chem.murcko_scaffold(s) or "", []).append(i)
    big = [g for g in groups.values() if len(g) > fractions[2] * n / 2]
    small = [g for g in groups.values() if len(g) <= fractions[2] * n / 2]
    rng.shuffle(small)
    train, val, test = [], [], []
    for g in sorted(big, key=len, reverse=True) + small:
        if len(train) + len(g) <= fractions[0] * n:
            train += g
        elif len(val) + len(g) <= fractions[1] * n:
            val += g
        else:
            test += g
    return np.array(sorted(train)), np.array(sorted(val)), np.array(sorted(test))
