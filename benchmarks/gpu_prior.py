"""Train the ChEMBL prior on one GPU within minutes, from a prepared token cache, with no RDKit on that machine.

Three steps on two machines (the GPU image has PyTorch and NumPy, not RDKit, Lightning or the internet):

    # here, with RDKit: the training SMILES (bench_recovery.py's held-out actives removed, as prior_chembl.py
    # does), canonical, encoded into token caches with their vocabulary
    CHEMRNN_DATA_DIR=../shared/data python benchmarks/gpu_prior.py prepare runs/gpu_prior
    # on the GPU machine, PYTHONPATH=src and no install: a plain PyTorch loop (bf16 autocast, fused Adam, warm-up
    # then cosine decay over the time budget, so the run ends annealed), validation NLL and a log every 200 steps
    PYTHONPATH=src python benchmarks/gpu_prior.py train runs/gpu_prior --minutes 9
    # here again: the chemrnn model file, then sampling and metrics, where RDKit is (canonicalize after)
    python benchmarks/gpu_prior.py finish runs/gpu_prior
    chemrnn lm evaluate --model runs/gpu_prior/model -n 10000 --test chembl:valid --train chembl -o runs/gpu_prior/eval

``train`` refuses to import RDKit or Lightning (a hidden import fails here as it would there). Smoke test on the CPU:
``prepare runs/gp_smoke --limit 3000`` then ``train runs/gp_smoke --device cpu --minutes 0.3 --hidden 64
--layers 1 --batch-size 32 --val-every 20`` then ``finish runs/gp_smoke``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def prepare(out: Path, limit: int | None) -> None:
    sys.path.insert(0, str(HERE))
    from prior_chembl import write_training_file

    from chemrnn.batching import encode_all
    from chemrnn.chem import canonical_all
    from chemrnn.datasets import path as dataset_path
    from chemrnn.io import load_smiles_list
    from chemrnn.tokens import AtomTokenizer

    out.mkdir(parents=True, exist_ok=True)
    smi = out / "chembl_minus_heldout.smi"
    if not smi.exists():
        write_training_file(smi)
    train = [c for c in canonical_all(load_smiles_list(smi)[:limit]) if c]
    tok = AtomTokenizer()
    cache = encode_all(train, tok)
    n_valid = 5000 if limit is None else max(50, limit // 10)
    valid = [c for c in canonical_all(load_smiles_list(dataset_path("chembl:valid"))[:n_valid]) if c]
    vcache = encode_all([s for s in valid if all(t in cache.vocabulary for t in tok.tokenize(s))], tok,
                        cache.vocabulary)
    cache.save(out / "train.npz")
    vcache.save(out / "valid.npz")
    print(f"train {len(cache):,} molecules, valid {len(vcache):,}, vocabulary {len(cache.vocabulary)} → {out}")


def lr_at(fraction: float, warmup: float, min_ratio: float) -> float:
    """Linear warm-up over the first ``warmup`` of the budget, then cosine decay to ``min_ratio``."""
    if fraction < warmup:
        return fraction / warmup
    done = min(1.0, (fraction - warmup) / (1 - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * done))


def train(out: Path, minutes: float, device: str, hidden: int, layers: int, embedding: int, batch_size: int,
          lr: float, dropout: float, val_every: int, seed: int) -> None:
    for blocked in ("rdkit", "lightning"):  # this machine has neither: prove it here too
        sys.modules[blocked] = None
    import numpy as np
    import torch

    from chemrnn.batching import BucketBatchSampler, TokenCache, collate
    from chemrnn.models.language import LanguageModel, LMConfig

    torch.manual_seed(seed)
    cuda = device.startswith("cuda")
    if cuda:
        torch.set_float32_matmul_precision("high")
    cache, vcache = TokenCache.load(out / "train.npz"), TokenCache.load(out / "valid.npz")
    cfg = LMConfig(len(cache.vocabulary), embedding, hidden, layers, dropout, "lstm", "fused", 0)
    model = LanguageModel(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, **({"fused": True} if cuda else {}))
    sampler = BucketBatchSampler(cache.lengths, batch_size, seed=seed)
    valid_batches = [collate([vcache[i] for i in b])[0] for b in
                     BucketBatchSampler(vcache.lengths, 256, shuffle=False).batches()]
    autocast = dict(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16)
    budget, t0, step, rows, epoch = minutes * 60, time.perf_counter(), 0, [], 0

    def validate() -> float:
        model.eval()
        total = tokens = 0.0
        with torch.no_grad(), torch.autocast(**autocast):
            for ids in valid_batches:
                ids = ids.to(device, non_blocking=True)
                nll = model.token_nll(ids).float()
                total += float(nll.sum())
                tokens += float((ids[:, 1:] != 0).sum())
        model.train()
        return total / tokens

    model.train()
    done = False
    while not done:
        sampler.epoch = epoch
        for b in sampler.batches():
            fraction = (time.perf_counter() - t0) / budget
            if fraction >= 1.0:
                done = True
                break
            for g in opt.param_groups:
                g["lr"] = lr * lr_at(fraction, 0.03, 0.05)
            ids = collate([cache[i] for i in b])[0].to(device, non_blocking=True)
            with torch.autocast(**autocast):
                loss = model.loss(ids)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % val_every == 0:
                rows.append({"step": step, "epoch": round(step * batch_size / len(cache), 3),
                             "train_loss": float(loss.detach()), "val_nll": validate(),
                             "lr": opt.param_groups[0]["lr"], "elapsed_s": round(time.perf_counter() - t0, 1)})
                print(json.dumps(rows[-1]), flush=True)
        epoch += 1
    final = {"step": step, "epoch": round(step * batch_size / len(cache), 3), "val_nll": validate(),
             "elapsed_s": round(time.perf_counter() - t0, 1)}
    from safetensors.torch import save_file

    save_file({k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()},
              str(out / "weights.safetensors"))
    record = {"config": {k: v for k, v in cfg.to_dict().items() if k != "impl"}, "device": device,
              "device_name": torch.cuda.get_device_name() if cuda else "cpu", "minutes": minutes,
              "batch_size": batch_size, "lr": lr, "seed": seed, "torch": torch.__version__, "final": final,
              "log": rows, "rdkit_imported": "rdkit" in sys.modules and sys.modules["rdkit"] is not None,
              "train_sequences": len(cache), "tokens_per_s": float(np.sum(cache.lengths)) * final["epoch"]
              / max(final["elapsed_s"], 1e-9)}
    (out / "train.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(final))


def finish(out: Path) -> None:
    from safetensors.torch import load_file

    from chemrnn.batching import TokenCache
    from chemrnn.models.language import LanguageModel, LMConfig, save_language_model
    from chemrnn.runinfo import versions

    record = json.loads((out / "train.json").read_text())
    model = LanguageModel(LMConfig(**record["config"]))
    model.load_state_dict(load_file(str(out / "weights.safetensors")))
    vocab = TokenCache.load(out / "valid.npz").vocabulary
    training = {"data": "chembl", "config": {"data": "chembl", **record["config"]}, "seed": record["seed"],
                "steps": record["final"]["step"], "metrics": record["final"], "hardware": record["device_name"],
                "versions": {**versions(), "torch_trained": record["torch"]}}
    save_language_model(out / "model", model, vocab, "atom", training)
    print(f"model: {out / 'model'} (val NLL {record['final']['val_nll']:.4f} after {record['final']['step']} steps)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=("prepare", "train", "finish"))
    ap.add_argument("out", type=Path)
    ap.add_argument("--limit", type=int, default=None, help="prepare: only the first N training molecules")
    ap.add_argument("--minutes", type=float, default=9.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--embedding", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--val-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.stage == "prepare":
        prepare(a.out, a.limit)
    elif a.stage == "train":
        train(a.out, a.minutes, a.device, a.hidden, a.layers, a.embedding, a.batch_size, a.lr, a.dropout,
              a.val_every, a.seed)
    else:
        finish(a.out)
