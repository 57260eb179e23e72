"""Would another ranking of the same fine-tuned model put more held-out actives in a focused library?

The recipe's library is the model's most likely new molecules (log p at T = 1). Two other rankings are common: a
length bonus, log p + alpha * tokens (the likeliest strings are short; beam search in translation adds such a term,
Wu et al. 2016), and log p at a temperature T (``softmax(logits / T)``, the distribution ``lm sample -T`` draws
from). For each ranking this estimates the recovery of the *exact* top 10k / 50k / 100k new valid strings, by the
importance-sampling estimate of ``finetune_epochs.py`` (draws at T = 1, weight 1/p; each drawn string is rescored,
so weight and rank refer to the same string), for the held-out actives and for the fine-tune's validation actives
(the part of the training actives ``lm finetune`` held out, which a recipe could select on).

Reads a run of finetune_epochs.py (its ``OUT/ft`` with every epoch's weights).

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/library_ranking.py OUT_DIR RESULT.json --epoch 8 \
           [--target pfalciparum] [--samples 20000] [--alpha 0,0.05,0.1,0.2,0.3] [--temperature 0.8,0.9]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, recovery_split  # noqa: E402
from finetune_epochs import SIZES, epoch_model, ranks_among, targets, validation_logp, validation_split  # noqa: E402

from chemrnn import chem  # noqa: E402
from chemrnn.sample import likelihood, sample  # noqa: E402


def recovered(score: np.ndarray, weight: np.ndarray, target_score: np.ndarray) -> list[int]:
    """Targets estimated to rank within 10k / 50k / 100k of the accepted strings ordered by ``score``."""
    ranks = ranks_among(score, weight, target_score)[0]
    return [int((ranks < m).sum()) for m in SIZES]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("result", type=Path)
    ap.add_argument("--epoch", type=int, required=True)
    ap.add_argument("--target", default="pfalciparum")
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--alpha", default="0,0.05,0.1,0.2,0.3", help="length bonuses per token, comma-separated")
    ap.add_argument("--temperature", default="0.8,0.9,1.2", help="temperatures other than 1, comma-separated")
    a = ap.parse_args()
    t0 = time.perf_counter()
    run = a.out / "ft"
    model, voc, tok, _ = epoch_model(run, a.epoch)
    train80, held20 = recovery_split(a.target)
    known, held = targets(train80, held20)
    held = [x for x in held if all(t in voc for t in tok.tokenize(x))]
    valid = validation_split(run)
    val_ids = [valid[i] for i in range(len(valid))]
    val_smiles = [tok.detokenize([voc.tokens[t] for t in ids[1:-1]]) for ids in val_ids]
    s = sample(model, voc, tok, a.samples, seed=a.epoch, batch_size=1024)
    ok = np.array([f and (c := chem.canonical(x)[0]) is not None and c not in known
                   for x, f in zip(s.smiles, s.finished)])
    drawn = [x for x, o in zip(s.smiles, ok) if o]
    weight = np.exp(s.nll[ok]) / a.samples
    length = {"draws": np.array([len(tok.tokenize(x)) + 1 for x in drawn]),
              "held": np.array([len(tok.tokenize(x)) + 1 for x in held]), "val": np.array([len(i) - 1 for i in val_ids])}
    logp = {"draws": -s.nll[ok], "held": -likelihood(model, voc, tok, held), "val": validation_logp(model, valid)}
    rows = []
    for alpha in [float(x) for x in a.alpha.split(",") if x]:
        sc = {k: logp[k] + alpha * length[k] for k in logp}
        rows.append({"ranking": f"log p + {alpha} * tokens", "alpha": alpha, "temperature": 1.0,
                     "heldout": recovered(sc["draws"], weight, sc["held"]),
                     "validation": recovered(sc["draws"], weight, sc["val"])})
        print(rows[-1], flush=True)
    for temp in [float(x) for x in a.temperature.split(",") if x]:
        sc = {"draws": -likelihood(model, voc, tok, drawn, temperature=temp),
              "held": -likelihood(model, voc, tok, held, temperature=temp),
              "val": -likelihood(model, voc, tok, val_smiles, temperature=temp)}
        rows.append({"ranking": f"log p at T = {temp}", "alpha": 0.0, "temperature": temp,
                     "heldout": recovered(sc["draws"], weight, sc["held"]),
                     "validation": recovered(sc["draws"], weight, sc["val"])})
        print(rows[-1], flush=True)
    res = {"machine": machine(), "command": " ".join(["python", *sys.argv]), "target": a.target, "epoch": a.epoch,
           "samples": a.samples, "accepted_draws": int(ok.sum()), "heldout": len(held20), "validation": len(val_ids),
           "median_tokens": {k: float(np.median(v)) for k, v in length.items()}, "sizes": list(SIZES), "rankings": rows,
           "seconds": round(time.perf_counter() - t0, 1)}
    a.result.parent.mkdir(parents=True, exist_ok=True)
    a.result.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
