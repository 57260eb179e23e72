"""Language-model speed: training tokens/s, sampling molecules/s, evaluation time; each as a fraction of an SGEMM
measured in the same run (torch.matmul, fp32, 4096², all threads).

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_lm.py [MODEL] [OUT.json]
MODEL defaults to the shipped prior. Training is timed on real MOSES batches (length-bucketed, batch 128) with the
prior's architecture, for 30 steps after 5 warm-up steps, in fp32 and in bf16 autocast (the cpu preset's setting).
"""
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402

from chemrnn.api import evaluate_samples, load_lm, sample_smiles, shipped_prior  # noqa: E402
from chemrnn.batching import BucketBatchSampler, collate, encode_all
from chemrnn.io import load_smiles_list  # noqa: E402
from chemrnn.datasets import path as dataset_path  # noqa: E402
from chemrnn.models.language import LanguageModel, LMConfig  # noqa: E402


def sgemm_flops(n=4096, reps=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return reps * 2 * n ** 3 / (time.perf_counter() - t)


def forward_flops_per_token(cfg):
    """Multiply-adds ×2 of one forward step: every layer's 4 (LSTM) / 3 (GRU) / 1 gate GEMMs, and the softmax head."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cfg.cell]
    f = 0
    for k in range(cfg.num_layers):
        i = cfg.embedding_dim if k == 0 else cfg.hidden_size
        f += 2 * gates * cfg.hidden_size * (cfg.hidden_size + i)
    return f + 2 * cfg.hidden_size * cfg.vocab_size


def bench_training(cfg, vocab, tok, precision, steps=30):
    smiles = load_smiles_list(dataset_path("moses:test"), "SMILES")[:20000]
    cache = encode_all(smiles, tok, vocab, unknown="unk")
    batches = BucketBatchSampler(cache.lengths, 128, seed=0).batches()
    torch.manual_seed(0)
    model = LanguageModel(cfg)
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step(ids):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model.loss(ids)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for b in batches[:5]:
        step(collate([cache[i] for i in b])[0])
    tokens = 0
    t = time.perf_counter()
    for b in batches[5:5 + steps]:
        ids = collate([cache[i] for i in b])[0]
        tokens += int((ids[:, 1:] != vocab.pad_id).sum())
        step(ids)
    dt = time.perf_counter() - t
    return tokens / dt


N = int(__import__("os").environ.get("BENCH_N", "10000"))  # smaller only to smoke-test this script


def main():
    model_path = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else str(shipped_prior())
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "runs/bench_lm.json")
    sg = sgemm_flops()
    model, vocab, tok, meta = load_lm(model_path)
    cfg = LMConfig(**{**meta["config"], "impl": "fused"})
    fwd = forward_flops_per_token(cfg)
    res = {"machine": machine(), "model": model_path, "sgemm_gflops": sg / 1e9, "forward_flops_per_token": fwd}
    for precision in ("fp32", "bf16"):
        tps = bench_training(cfg, vocab, tok, precision)
        res[f"train_{precision}_tokens_per_s"] = tps
        res[f"train_{precision}_fraction_of_sgemm"] = tps * 3 * fwd / sg  # forward + backward ≈ 3× forward
    t = time.perf_counter()
    s = sample_smiles(model_path, N, seed=0, batch_size=2048)
    dt = time.perf_counter() - t
    gen_tokens = int(s["samples"].lengths.sum())
    res.update({"sample_n": N, "sample_seconds": dt, "sample_molecules_per_s": N / dt, "sample_tokens": gen_tokens,
                "sample_fraction_of_sgemm": gen_tokens * fwd / dt / sg, "sample_validity": s["valid"] / N})
    # the first call computes and caches the reference statistics; the second is the one timed
    ev = evaluate_samples(s["written"], "moses:test", train=None, n_ref=N, fcd=True, seed=0)
    t = time.perf_counter()
    ev = evaluate_samples(s["written"], "moses:test", train=None, n_ref=N, fcd=True, seed=0)
    res["evaluate_seconds"] = time.perf_counter() - t
    res["evaluate_breakdown"] = ev["seconds"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
