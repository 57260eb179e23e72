"""Focused-library recovery by fine-tuning epoch: estimated from samples, and the recipe's beam library, by epoch.

For one actives set's 80/20 split (``common.recovery_split``, as bench_library.py), fine-tune PRIOR on the 80 % with
the recipe's settings but no early stop (``lm finetune`` defaults: at most 20 epochs, LR cosine over them, a tenth of
the actives for validation), keeping every epoch's weights. The recipe's run is the first epochs of this one (the
same seed and schedule), so the curve shows what the epochs after its early stop would have given.

For each epoch: the validation NLL and median log p, the held-out actives' log-likelihoods, and each held-out active's estimated rank
among the strings the library may take (valid, not in the fine-tuning set). The number of such strings more likely
than ``t`` is ``E_p[1{accepted(x), log p(x) > t} / p(x)]`` over ``x ~ p`` (the model as its own importance-sampling
proposal), estimated by the mean over ``--samples`` draws at T = 1; an active whose estimated rank is below ``n`` is
estimated to be in the library of ``n``. The estimate counts strings, the library molecules (a second spelling of a
molecule takes no place), so it slightly overstates ranks. ``--beam`` builds the library of the recipe (``lm library``,
beam, 100,000) at the epochs named: its recovery, and whether it holds the sampled molecules more likely than its last
one (a search for the most likely molecules would hold them all). Rerun to continue: finished epochs are kept.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/finetune_epochs.py OUT_DIR RESULT.json \
           [--target pfalciparum] [--prior chembl] [--epochs 20] [--samples 20000] [--estimate 8,14] [--beam 8,14] [-n 100000]
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, recovery_split  # noqa: E402

import chemrnn.training.lm as lm_training  # noqa: E402
from chemrnn import api, chem  # noqa: E402
from chemrnn.models.language import load_language_model  # noqa: E402
from chemrnn.sample import likelihood, sample  # noqa: E402
from chemrnn.training.callbacks import BestWeights  # noqa: E402

CHEMRNN = str(Path(sys.executable).with_name("chemrnn"))
SIZES = (10_000, 50_000, 100_000)


class EveryEpoch(BestWeights):
    """The recipe's best-epoch keeper, which also writes each epoch's weights to ``folder``."""

    folder: Path

    def on_validation_end(self, trainer, pl_module):
        super().on_validation_end(trainer, pl_module)
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        from safetensors.torch import save_file

        self.folder.mkdir(parents=True, exist_ok=True)
        state = {k.removeprefix("model."): v.detach().cpu().contiguous() for k, v in pl_module.state_dict().items()}
        path = self.folder / f"epoch_{trainer.current_epoch + 1:02d}.safetensors"
        save_file(state, str(path.with_suffix(".tmp")))
        path.with_suffix(".tmp").replace(path)


def finetune(prior: str, train: Path, run: Path, epochs: int) -> float:
    """Fine-tune with every epoch's weights kept in ``run/epochs`` (resumes a killed run)."""
    EveryEpoch.folder = run / "epochs"
    lm_training.BestWeights = EveryEpoch
    t = time.perf_counter()
    api.finetune(prior, train, run, epochs=epochs, patience=None, verbose=False)
    return round(time.perf_counter() - t, 1)


def epoch_model(run: Path, k: int):
    """The fine-tuned model with epoch ``k``'s weights."""
    from safetensors.torch import load_file

    loaded = load_language_model(run / "model")
    loaded.model.load_state_dict(load_file(str(run / "epochs" / f"epoch_{k:02d}.safetensors")))
    return loaded


def targets(train80: list[str], held20: list[str]) -> tuple[set[str], list[str]]:
    """The fine-tuning actives' canonical SMILES (known: never in a library), and the held-out actives' not among them."""
    known = {c for x in train80 if (c := chem.canonical(x)[0]) is not None}
    return known, sorted({c for x in held20 if (c := chem.canonical(x)[0]) is not None} - known)


def validation_split(run: Path):
    """The token cache of the validation actives ``lm finetune`` held out of the run's training data."""
    from chemrnn.batching import TokenCache
    from chemrnn.training.data import split_valid

    cfg = json.loads((run / "config.json").read_text())["config"]
    return split_valid(TokenCache.load(next(run.rglob("train.npz"))), cfg["val_size"], cfg["seed"])[1]


def validation_logp(model, valid) -> np.ndarray:
    """Log p of each molecule of the validation split ``valid`` (:func:`validation_split`)."""
    import torch

    from chemrnn.batching import collate

    batch, _ = collate([valid[i] for i in range(len(valid))])
    model.eval()
    with torch.no_grad():
        return -model.sequence_nll(batch).double().numpy()


def ranks_among(score: np.ndarray, weight: np.ndarray, target_score: np.ndarray):
    """Each target's estimated rank among the strings the draws stand for (draw i stands for ``weight[i]`` strings):
    the summed weight of the draws scoring above it. Also returns the draws' scores, best first, and their running
    weight (strings at least as good as each, estimated)."""
    order = np.argsort(-score, kind="stable")
    best_first = score[order]
    count = np.cumsum(weight[order])
    above = np.searchsorted(-best_first, -target_score, side="left")  # draws scoring above each target
    return np.where(above > 0, count[np.maximum(above - 1, 0)], 0.0), best_first, count


def estimated_ranks(loaded, known: set[str], targets_logp: np.ndarray, n: int, seed: int, keep: Path):
    """Each target's estimated rank among accepted strings (those more likely than it), from ``n`` samples; the
    accepted samples (canonical SMILES, log p of the string drawn) are written to ``keep``."""
    model, voc, tok, _ = loaded
    s = sample(model, voc, tok, n, seed=seed, batch_size=1024)
    logp = -s.nll
    canon = [chem.canonical(x)[0] if f else None for x, f in zip(s.smiles, s.finished)]
    ok = np.array([c is not None and c not in known for c in canon])
    keep.write_text("smiles,logp\n" + "".join(f"{c},{v:.4f}\n" for c, v, o in zip(canon, logp, ok) if o))
    ranks, acc, count = ranks_among(logp[ok], np.exp(-logp[ok]) / n, targets_logp)
    thresholds = {str(m): round(float(acc[np.searchsorted(count, m)]), 3) if count[-1] >= m else None for m in SIZES}
    return ranks, {"accepted_fraction": round(float(ok.mean()), 4), "thresholds_logp": thresholds}


def exact_library(run: Path, k: int, out: Path, heldout: Path, n: int, samples: int) -> dict:
    """``lm library`` (beam, ``n`` molecules) of epoch ``k``'s model: its recovery at 10k / 50k / 100k (up to ``n``,
    in the search's order), the log p of its last molecule, and how many of the distinct molecules sampled at that
    epoch above that log p it holds (a search that finds the ``n`` most likely molecules holds them all)."""
    model_dir = out / f"model_epoch_{k:02d}"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    shutil.copytree(run / "model", model_dir)
    shutil.copyfile(run / "epochs" / f"epoch_{k:02d}.safetensors", model_dir / "weights.safetensors")
    lib = out / f"library_epoch_{k:02d}.csv"
    t = time.perf_counter()
    with open(out / f"library_epoch_{k:02d}.log", "w") as fh:
        subprocess.run([CHEMRNN, "lm", "library", str(model_dir), "-n", str(n), "-o", str(lib),
                        "--heldout", str(heldout)], check=True, stdout=fh, stderr=subprocess.STDOUT)
    secs = round(time.perf_counter() - t, 1)
    summary = json.loads(lib.with_name(lib.name + ".summary.json").read_text())
    curve = {p["library"]: p["recovered"] for p in summary["heldout"]["curve"]}
    with open(lib, newline="") as fh:
        rows = list(csv.DictReader(fh))
    in_lib = {r["smiles"] for r in rows}
    # the search's last molecule, by the log p the search ranked it by: its spelling's (the canonical spelling's in
    # a library file written before the spelling column)
    last = next(float(r.get("spelling_logp") or r["logp"]) for r in rows if int(r["rank"]) == len(rows))
    drawn = [line.split(",") for line in (out / f"samples_epoch_{k:02d}.csv").read_text().splitlines()[1:]]
    logp = np.array([float(v) for _, v in drawn])
    above = {c for (c, _), lp in zip(drawn, logp) if lp > last}
    return {"seconds": secs, "recovered": {str(m): curve.get(m) for m in (*SIZES, n) if m <= n},
            "last_logp": last, "sampled_above_last": len(above),
            "sampled_above_last_in_library": len(above & in_lib),
            # accepted strings more likely than the last molecule, estimated from the draws (weight 1/p)
            "estimated_strings_above_last": round(float(np.exp(-logp[logp > last]).sum() / samples))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("result", type=Path)
    ap.add_argument("--target", default="pfalciparum")
    ap.add_argument("--prior", default="chembl")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--beam", default="", help="epochs whose exact beam library to build, comma-separated")
    ap.add_argument("--estimate", default="", help="epochs to estimate, comma-separated (default: every epoch)")
    ap.add_argument("-n", type=int, default=SIZES[-1], help="molecules in each exact library")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    res = json.loads(a.result.read_text()) if a.result.exists() else {}
    res.setdefault("machine", machine())
    res.update({"target": a.target, "prior": a.prior, "epochs": a.epochs, "samples": a.samples,
                "command": " ".join(["python", *sys.argv])})
    res.setdefault("by_epoch", {})
    res.setdefault("beam", {})
    train80, held20 = recovery_split(a.target)
    tr, ho = a.out / f"{a.target}_train80.smi", a.out / f"{a.target}_heldout20.smi"
    tr.write_text("\n".join(train80) + "\n")
    ho.write_text("\n".join(held20) + "\n")
    run = a.out / "ft"
    if "finetune_seconds" not in res:
        res["finetune_seconds"] = finetune(a.prior, tr, run, a.epochs)
    val = {}
    with open(run / "log.csv") as fh:
        for row in csv.DictReader(fh):
            if row.get("val_nll"):
                val[int(float(row["epoch"])) + 1] = float(row["val_nll"])
    known, held = targets(train80, held20)
    valid = validation_split(run)
    beams = [int(x) for x in a.beam.split(",") if x]
    chosen = sorted({int(x) for x in a.estimate.split(",") if x} | set(beams)) if a.estimate else range(1, a.epochs + 1)
    for k in chosen:
        if str(k) in res["by_epoch"] or not (run / "epochs" / f"epoch_{k:02d}.safetensors").exists():
            continue
        t = time.perf_counter()
        loaded = epoch_model(run, k)
        model, voc, tok, _ = loaded
        spellable = [x for x in held if all(t_ in voc for t_ in tok.tokenize(x))]
        logp = -likelihood(model, voc, tok, spellable)
        ranks, info = estimated_ranks(loaded, known, logp, a.samples, seed=k,
                                      keep=a.out / f"samples_epoch_{k:02d}.csv")
        res["by_epoch"][str(k)] = {
            "val_nll": val.get(k), "val_median_logp": round(float(np.median(validation_logp(model, valid))), 3),
            "heldout_median_logp": round(float(np.median(logp)), 3),
            "estimated_recovered": {str(m): int((ranks < m).sum()) for m in SIZES},
            "heldout": len(held20), "samples": a.samples, **info, "seconds": round(time.perf_counter() - t, 1)}
        print(k, res["by_epoch"][str(k)], flush=True)
        a.result.write_text(json.dumps(res, indent=1) + "\n")
    for k in beams:
        if str(k) not in res["beam"]:
            res["beam"][str(k)] = exact_library(run, k, a.out, ho, a.n, res["by_epoch"][str(k)]["samples"])
            print("beam", k, res["beam"][str(k)], flush=True)
            a.result.write_text(json.dumps(res, indent=1) + "\n")
    a.result.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
