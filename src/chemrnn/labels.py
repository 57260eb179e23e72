"""Labelled data for property models: values from a CSV's columns (or computed with RDKit), and splits.

Labels: any numeric column of a CSV can be a target; ``logP`` (RDKit Crippen MolLogP) and ``TPSA`` (RDKit
CalcTPSA) are computed, and cached, when the file lacks them. Splits: random or Bemis–Murcko scaffold, seeded.
"""
from __future__ import annotations

import random

import numpy as np

from . import chem
from .datasets import cache_dir, resolve_input, smiles_column
from .errors import InputError
from .io import atomic_write, clip, file_kind, iter_lines, pick_column, read_table, TABLE_SUFFIXES
from .utils import pool_map

COMPUTABLE = {"logP", "TPSA"}


# ------------------------------------------------------------------------------------------- data
def load_labelled(source, targets: list[str], column: str | None = None, jobs: int = 0,
                  on_bad_line: str = "error"):
    """``(smiles, Y, rejects)``: canonical SMILES with their target values, from a CSV/TSV/SMILES file or dataset name.

    Missing ``logP``/``TPSA`` columns are computed with RDKit; other missing targets are an error naming the
    columns that exist. The file is read by :func:`.io.read_table` (the reader every command shares: a line that is
    not UTF-8 or too long stops with its line number unless ``on_bad_line="skip"``). Rows with an empty or invalid
    SMILES, a malformed line or a non-numeric target are rejected with a reason; each reject is
    ``(file line, reason, SMILES field)``. Blank lines are neither rows nor rejects.
    """
    path = resolve_input(source)
    header, rows, fields = read_table(path, on_bad_line=on_bad_line)
    col = pick_column(header, column or smiles_column(source), path)
    smiles = [f[col] if len(f) > col else "" for f in fields]
    canon = chem.canonical_all(smiles, jobs)
    Y = np.full((len(rows), len(targets)), np.nan)
    for k, t in enumerate(targets):
        if t in header:
            j = header.index(t)
            Y[:, k] = [_number(f[j]) if len(f) > j else np.nan for f in fields]
        elif t not in COMPUTABLE:
            shown = ", ".join(clip(h, 40) for h in header[:20])
            raise InputError(f"no target column {clip(t, 40)!r} (columns: {shown}); computable without a column: "
                             f"{', '.join(sorted(COMPUTABLE))}", path)
    missing = [k for k, t in enumerate(targets) if t not in header]
    if missing:
        computed = _computed_labels([c or "" for c in canon])
        for k in missing:
            Y[:, k] = computed[targets[k]]
    keep, rejects = [], []
    for i, (row, s, c) in enumerate(zip(rows, smiles, canon)):
        if row.error:
            rejects.append((row.line, row.error, row.raw))
        elif not s:
            rejects.append((row.line, "empty SMILES", s))
        elif c is None:
            rejects.append((row.line, chem.canonical(s)[1] or "invalid SMILES", clip(s)))
        elif not np.isfinite(Y[i]).all():
            rejects.append((row.line, "missing or non-numeric target value", clip(s)))
        else:
            keep.append(i)
    return [canon[i] for i in keep], Y[keep], rejects


def target_origins(source, targets: list[str]) -> dict[str, str]:
    """Where :func:`load_labelled` takes each target's values from: ``"file"`` (a column of the file) or
    ``"RDKit"`` (computed, the file having no such column)."""
    import csv

    path = resolve_input(source)
    kind = file_kind(path)
    header: list[str] = []
    if kind != "smi":
        lines = iter_lines(path, on_bad_line="skip")
        try:
            _, text, err = next(lines)
        except StopIteration:
            text, err = "", "empty"
        finally:
            lines.close()
        if not err:
            header = [h.strip() for h in next(csv.reader([text], delimiter=TABLE_SUFFIXES["." + kind]), [])]
    return {t: "file" if t in header else "RDKit" for t in targets}


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return np.nan


def _computed_labels(canon: list[str]) -> dict[str, np.ndarray]:
    """RDKit logP and TPSA of every row, cached in the user cache under the SHA-256 of the rows' canonical SMILES
    and RDKit's version (so another SMILES column of the same file, or another RDKit, is computed anew)."""
    import hashlib

    digest = hashlib.sha256(f"rdkit {chem.rdkit_version()}".encode())
    for c in canon:  # row by row: no second copy of a large file's SMILES
        digest.update(b"\n" + c.encode())
    key = digest.hexdigest()[:24]
    cached = cache_dir() / "labels" / f"smiles-{key}.npz"
    if cached.exists():
        with np.load(cached, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    rows = pool_map(_descriptor_batch, canon)
    out = {t: np.array([r[t] if r else np.nan for r in rows], dtype=float) for t in sorted(COMPUTABLE)}
    cached.parent.mkdir(parents=True, exist_ok=True)

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
        if n >= 3:  # each split holds at least one molecule
            a = min(max(a, 1), n - 2)
            b = min(max(b, a + 1), n - 1)
        return _indices(idx[:a]), _indices(idx[a:b]), _indices(idx[b:])
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
    return _indices(train), _indices(val), _indices(test)


def _indices(idx) -> np.ndarray:
    return np.array(sorted(idx), dtype=np.int64)


def _scaffold_groups(smiles: list[str]) -> list[list[int]]:
    """Row indices grouped by Bemis–Murcko scaffold (acyclic molecules share the empty scaffold), in first-seen
    order."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        groups.setdefault(chem.murcko_scaffold(s) or "", []).append(i)
    return list(groups.values())


def kfold_indices(smiles: list[str], folds: int = 5, method: str = "random", seed: int = 0) -> list[np.ndarray]:
    """``folds`` disjoint test folds (sorted index arrays) holding every row exactly once.

    ``random``: a seeded shuffle cut into near-equal parts. ``scaffold``: whole Bemis–Murcko groups, never split;
    the groups, shuffled by ``seed`` and then taken largest first, each go to the fold with the fewest rows so far
    (so folds stay balanced; a single group larger than n/folds makes its fold larger)."""
    n = len(smiles)
    if method not in ("random", "scaffold"):
        raise InputError(f"split must be random or scaffold, not {method!r}")
    if folds < 2:
        raise InputError(f"folds must be at least 2, not {folds}")
    rng = random.Random(seed)
    if method == "random":
        if n < folds:
            raise InputError(f"{n} molecule(s) cannot fill {folds} folds")
        idx = list(range(n))
        rng.shuffle(idx)
        return [_indices(part) for part in np.array_split(np.array(idx, dtype=np.int64), folds)]
    groups = _scaffold_groups(smiles)
    if len(groups) < folds:
        raise InputError(f"{len(groups)} scaffold(s) cannot fill {folds} scaffold folds")
    rng.shuffle(groups)
    groups.sort(key=len, reverse=True)  # stable: equal sizes keep the seeded order
    parts: list[list[int]] = [[] for _ in range(folds)]
    for g in groups:
        min(parts, key=len).extend(g)
    return [_indices(p) for p in parts]


def cv_splits(smiles: list[str], folds: int = 5, method: str = "random", seed: int = 0,
              val_fraction: float = 0.1) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(train, val, test)`` index arrays for each fold of :func:`kfold_indices`: the fold is the test set, and
    about ``val_fraction`` of all rows, taken from the other folds (whole scaffold groups for ``scaffold``;
    seeded by ``seed`` and the fold), is the validation set for early stopping; the rest trains."""
    n = len(smiles)
    tests = kfold_indices(smiles, folds, method, seed)
    groups = _scaffold_groups(smiles) if method == "scaffold" else [[i] for i in range(n)]
    want = max(1, round(val_fraction * n))
    out = []
    for k, test in enumerate(tests):
        held = set(test.tolist())
        rest = [g for g in groups if g[0] not in held]  # groups never straddle folds
        random.Random(seed * 1000 + k + 1).shuffle(rest)
        val: list[int] = []
        for g in rest:
            if len(val) + len(g) <= want:
                val += g
            if len(val) >= want:
                break
        if not val and rest:  # every group is larger than the wanted size: the smallest one validates
            val = list(min(rest, key=len))
        chosen = set(val)
        train = [i for g in rest for i in g if i not in chosen]
        if not train or not val:
            raise InputError(f"{n} molecule(s) are too few for {folds} folds with a validation set "
                             f"({method} split)")
        out.append((_indices(train), _indices(val), test))
    return out
