"""Benchmark helpers: wall time and peak resident memory of a command's whole process tree, and machine facts."""
from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids += [int(x) for x in task.read_text().split()]
        except OSError:
            pass
    return kids


def _tree_rss(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
        stack += _children(p)
    return total


def measure(cmd: list[str], env: dict | None = None, cap_mb: float | None = None) -> dict:
    """Run ``cmd``; return wall seconds, peak RSS of the process tree (sampled every 50 ms) and exit code. With
    ``cap_mb``, a memory cap: the tree is killed (``over_cap``: true) as soon as its RSS exceeds it."""
    import signal
    import tempfile

    t0 = time.perf_counter()
    log = tempfile.TemporaryFile(mode="w+")  # not a pipe: a chatty command cannot block on a full pipe
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    peak, over = 0, False
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        if cap_mb is not None and peak > cap_mb * 2**20:
            over = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.05)
    log.seek(0)
    out = log.read()
    res = {"cmd": " ".join(cmd), "seconds": round(time.perf_counter() - t0, 2), "peak_rss_mb": round(peak / 2**20),
           "returncode": proc.returncode, "output_tail": out[-2000:]}
    if cap_mb is not None:
        res.update({"cap_mb": cap_mb, "over_cap": over})
    return res


def machine() -> dict:
    """Hardware and versions, as every chemrnn run records them, plus the date."""
    from chemrnn.runinfo import hardware, versions

    v = versions()
    return {**hardware(), "python": v["python"], "torch": v.get("torch"), "date": time.strftime("%Y-%m-%d %H:%M")}


def save(result: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1))


def recovery_split(name: str) -> tuple[list[str], list[str]]:
    """The 80/20 split of an actives dataset that bench_recovery.py fine-tunes on / holds out (random, seed 0; the
    ChEMBL prior's data leaves the held-out part out: prior_chembl.py)."""
    from chemrnn.datasets import path as dataset_path
    from chemrnn.io import load_smiles_list

    smiles = load_smiles_list(dataset_path(name))
    random.Random(0).shuffle(smiles)
    cut = int(0.8 * len(smiles))
    return smiles[:cut], smiles[cut:]


# GuacaMol's cleaning of its ChEMBL training set (guacamol/data/get_data.py): ECFP4 bits (radius 2, 4,096 bits)
def filter_like_guacamol(smiles: list[str]) -> tuple[list[str], int]:
    """The molecules of ``smiles`` whose ECFP4 Tanimoto to every GuacaMol holdout drug is < 0.323, and how many
    were removed (invalid ones are dropped too and counted): the generator's own population filter."""
    from chemrnn import chem
    from chemrnn.design.guacamol import HOLDOUT_CUTOFF, guacamol_holdout

    kept = chem.far_from(smiles, guacamol_holdout(), HOLDOUT_CUTOFF)
    return kept, len(smiles) - len(kept)
