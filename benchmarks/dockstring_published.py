"""The published DOCKSTRING de novo baselines (García-Ortegón et al. 2022, J. Chem. Inf. Model. 62, 3486), from the
molecules and scores its authors released (github.com/dockstring/experiments-from-paper, ``official_results/molopt``),
summarized at the budgets chemrnn's runs use: for each method and objective, the best, top-10 and top-100 mean
objective (lower is better) among the first N new molecules each trial scored, mean and spread over its trials.

The objective ``F2_qed-pen-v3`` is Vina's F2 score + 10 (1 − QED); ``random_zinc`` is the paper's random-ZINC
control. Their runs started from the DOCKSTRING dataset's 260,000 molecules with their docking scores known (the
genetic algorithms' first population is its best); the budget counts new molecules only.

Usage: python benchmarks/dockstring_published.py CHECKOUT OUT.json [--objective F2_qed-pen-v3] [--budgets 250,1000,5000]
(CHECKOUT: a clone of github.com/dockstring/experiments-from-paper; read with git, nothing is run from it.)
"""
import argparse
import json
import subprocess
from pathlib import Path

import numpy as np


def trials(checkout: Path, method: str, objective: str) -> list[list[float]]:
    """Each trial's objective values in the order the method scored its new molecules."""
    names = subprocess.run(["git", "-C", str(checkout), "ls-tree", "--name-only", "HEAD",
                            f"official_results/molopt/{method}/{objective}/"], capture_output=True, text=True,
                           check=True).stdout.split()
    out = []
    for name in sorted(n for n in names if n.endswith(".json") and "extra" not in n):
        data = json.loads(subprocess.run(["git", "-C", str(checkout), "show", f"HEAD:{name}"], capture_output=True,
                                         text=True, check=True).stdout)
        # "scores" hold the negated objective (their optimizers maximize): F2 + 10 (1 − QED) = −score
        out.append([-float(s) for s in data["scores"]])
    return out


def top_means(values: list[float], n: int) -> dict:
    """Best, top-10 and top-100 means (lower is better) of the first ``n`` values."""
    first = np.sort(np.array(values[:n]))
    return {f"top{k}": float(first[:k].mean()) for k in (1, 10, 100) if len(first) >= k}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--objective", default="F2_qed-pen-v3")
    ap.add_argument("--budgets", default="250,1000,5000")
    args = ap.parse_args()
    methods = subprocess.run(["git", "-C", str(args.checkout), "ls-tree", "--name-only", "HEAD",
                              "official_results/molopt/"], capture_output=True, text=True, check=True).stdout.split()
    res = {"objective": args.objective, "source": "github.com/dockstring/experiments-from-paper official_results/molopt",
           "lower_is_better": True, "methods": {}}
    for path in methods:
        method = path.rsplit("/", 1)[-1]
        runs = trials(args.checkout, method, args.objective)
        if not runs:
            continue
        res["methods"][method] = {"trials": len(runs), "budgets": {}}
        res["methods"][method]["molecules_per_trial"] = [len(r) for r in runs]
        for n in (int(b) for b in args.budgets.split(",")):
            if any(len(r) < n for r in runs):  # a trial that scored fewer molecules says nothing at this budget
                continue
            per = [top_means(r, n) for r in runs]
            res["methods"][method]["budgets"][str(n)] = {
                k: {"mean": round(float(np.mean([p[k] for p in per])), 3),
                    "sd": round(float(np.std([p[k] for p in per])), 3)} for k in per[0]}
        print(method, json.dumps(res["methods"][method]["budgets"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
