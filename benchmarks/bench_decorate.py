"""Molecules around a fixed core: decoration of held-out actives' scaffolds and linking of their cut fragments.

For each actives set the 80/20 split of bench_library.py (random.Random(0); the ChEMBL prior's data holds none of the
20 %): ``chemrnn lm finetune PRIOR TRAIN80 -o OUT/ft_NAME`` (skipped when the model is there). Then

* **decoration**: each held-out active's Bemis–Murcko scaffold with an attachment point where each side chain was
  (``chem.scaffold_with_points``); every distinct core decorated ``--draws`` times by the fine-tuned model
  (``chemrnn lm sample MODEL --core CORE``'s code). Recorded: drawn, valid, outputs containing the core at its
  points, unique, and the held-out actives regenerated from their own core (stereo-free canonical SMILES).
* **linking**: a random ``--link-pairs`` of the held-out actives cut at a linker (``chem.linker_cut``: the acyclic
  path between two ring systems that leaves the most even fragments), each pair joined ``--draws`` times
  (``lm sample --link A B``). Recorded: the same counts and how often the original active is regenerated.

Molecules per second are the draws of a stage over its seconds (model loaded once; one process). Rerun to continue:
finished targets' stages are kept.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_decorate.py OUT_DIR RESULT.json \
           --targets jnk3,gsk3 [--draws 1000] [--link-pairs 60] [--prior chembl]
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, recovery_split  # noqa: E402

from chemrnn import chem, decorate  # noqa: E402
from chemrnn.api import load_lm  # noqa: E402
from chemrnn.errors import InputError  # noqa: E402

CHEMRNN = str(Path(sys.executable).with_name("chemrnn"))


def finetune(prior: str, train: list[str], out: Path) -> float | None:
    """The recipe's first command (skipped when the model exists); its seconds."""
    if (out / "model" / "model.json").exists():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    data = out.parent / f"{out.name}_train.smi"
    data.write_text("\n".join(train) + "\n")
    t = time.perf_counter()
    with open(out.parent / f"{out.name}.log", "w") as fh:
        subprocess.run([CHEMRNN, "lm", "finetune", prior, str(data), "-o", str(out)], check=True, stdout=fh,
                       stderr=subprocess.STDOUT)
    return round(time.perf_counter() - t, 1)


def flat(smiles: str) -> str | None:
    return chem.stereo_free(smiles) if smiles else None


def run_stage(lm, jobs: dict[tuple, list[str]], make, draws: int, seed: int) -> dict:
    """Draw ``draws`` molecules for each job (its template built by ``make``); the actives in ``jobs[key]`` count as
    regenerated when a draw of that job is the same molecule."""
    model, vocab, tok, _ = lm
    totals = defaultdict(int)
    regenerated, targets, t0 = 0, 0, time.perf_counter()
    for i, (key, actives) in enumerate(sorted(jobs.items())):
        try:
            template, query = make(key, vocab, tok)
        except InputError:  # a core with a token the model cannot write ([SH] …): counted, its actives missed
            totals["unwritable"] += 1
            targets += len(actives)
            continue
        raw, _ = decorate.decorate(model, vocab, tok, template, draws, batch_size=draws, seed=seed + i)
        out, counts = decorate.check(raw, query)
        good = [s for s in out if s]
        found = {flat(s) for s in good}
        regenerated += sum(flat(a) in found for a in actives)
        targets += len(actives)
        for k, v in counts.items():
            totals[k] += v
        totals["drawn"] += draws
        totals["valid"] += len(good) + counts["core_missing"]  # readable by RDKit, the core kept or not
        totals["with_core"] += len(good)
        totals["unique"] += len(set(good))
        if (i + 1) % 20 == 0:
            print(f"  {i + 1}/{len(jobs)}: regenerated {regenerated}/{targets}, "
                  f"{totals['drawn'] / (time.perf_counter() - t0):.0f} molecules/s", flush=True)
    seconds = time.perf_counter() - t0
    d = max(1, totals["drawn"])
    return {"jobs": len(jobs), "actives": targets, "regenerated": regenerated,
            "regenerated_fraction": round(regenerated / max(1, targets), 4), **dict(totals),
            "validity": round(totals["valid"] / d, 4),
            "core_kept_of_valid": round(totals["with_core"] / max(1, totals["valid"]), 4),
            "uniqueness": round(totals["unique"] / max(1, totals["with_core"]), 4),
            "seconds": round(seconds, 1), "molecules_per_s": round(d / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("result", type=Path)
    ap.add_argument("--targets", default="jnk3,gsk3")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--link-pairs", type=int, default=60)
    ap.add_argument("--prior", default="chembl")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    done = json.loads(a.result.read_text()) if a.result.exists() else {}
    done["setup"] = {"draws": a.draws, "link_pairs": a.link_pairs, "prior": a.prior, "seed": a.seed,
                     "machine": machine(), "command": " ".join(sys.argv)}
    for name in a.targets.split(","):
        entry = done.setdefault(name, {})
        train, held = recovery_split(name)
        ft = a.out / f"ft_{name}"
        secs = finetune(a.prior, train, ft)
        if secs is not None:
            entry["finetune_seconds"] = secs
        lm = load_lm(str(ft / "model"))
        if "decoration" not in entry:
            cores = defaultdict(list)
            no_core = 0
            for s in held:
                core = chem.scaffold_with_points(s)
                if core is None:
                    no_core += 1
                else:
                    cores[core].append(s)
            print(f"{name}: {len(held)} held out, {len(cores)} cores ({no_core} actives without a side chain)",
                  flush=True)
            entry["decoration"] = {"held_out": len(held), "without_side_chain": no_core,
                                   **run_stage(lm, cores, lambda k, v, t: decorate.decoration_template(k, v, t),
                                               a.draws, a.seed)}
            a.result.write_text(json.dumps(done, indent=1))
            print(f"{name} decoration: {entry['decoration']}", flush=True)
        if "linking" not in entry:
            pairs = defaultdict(list)
            cut = [(s, chem.linker_cut(s)) for s in held]
            cut = [(s, c) for s, c in cut if c is not None]
            for s, c in random.Random(a.seed).sample(cut, min(a.link_pairs, len(cut))):
                pairs[c].append(s)
            entry["linking"] = {"held_out_with_a_linker": len(cut),
                                **run_stage(lm, pairs, lambda k, v, t: decorate.linker_template(k[0], k[1], v, t),
                                            a.draws, a.seed)}
            a.result.write_text(json.dumps(done, indent=1))
            print(f"{name} linking: {entry['linking']}", flush=True)
    a.result.write_text(json.dumps(done, indent=1))


if __name__ == "__main__":
    main()
