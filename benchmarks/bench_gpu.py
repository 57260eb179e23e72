"""Training speed against the bare cuDNN (or CPU) LSTM of the same shape, side by side in one run.

For each shape (3-layer LSTM, hidden H, batch B, embedding 128, the shipped MOSES test sample's real SMILES in
length buckets):

* **ours** — chemrnn's training step as `lm train` runs it: embedding, LSTM, head, masked NLL, backward, gradient
  clipping, Adam (fused on CUDA), no host sync inside the timed loop; fp32 (TF32 on GPUs) and bf16 autocast;
* **bare** — `torch.nn.LSTM` alone, forward + backward of a sum over its output, on inputs of exactly the same
  (batch, length) shapes: the rate no training loop around that kernel can beat;
* the ratio ours / bare in useful (non-padding) tokens per second, the target being ≥ 0.85 on a GPU;
* sampling: molecules/s for 10,000 molecules from a model of the shape (random weights: the sampler's cost follows
  lengths, so the shipped prior's lengths are used by sampling it when the shape matches, else random weights).

Usage (a GPU machine: one run of a few minutes)::

    python benchmarks/bench_gpu.py OUT.json [--device auto] [--shapes 768x64,1024x128] [--steps 60]
    python benchmarks/bench_gpu.py runs/gpu_smoke.json --device cpu --shapes 64x16 --steps 3   # smoke test
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402

from chemrnn.batching import BucketBatchSampler, collate, encode_all  # noqa: E402
from chemrnn.datasets import sample_path  # noqa: E402
from chemrnn.io import load_smiles_list  # noqa: E402
from chemrnn.models.language import LanguageModel, LMConfig  # noqa: E402
from chemrnn.tokens import AtomTokenizer, Vocabulary  # noqa: E402
from chemrnn.utils import torch_device  # noqa: E402


def batches(batch_size: int, steps: int):
    """Real token batches (length-bucketed, as training draws them), and the vocabulary."""
    smiles = load_smiles_list(sample_path())
    tok = AtomTokenizer()
    vocab = Vocabulary.build(tok.tokenize(s) for s in smiles)
    cache = encode_all(smiles, tok, vocab, unknown="unk")
    order = BucketBatchSampler(cache.lengths, batch_size, seed=0).batches()
    out = []
    while len(out) < steps + 5:
        out += [collate([cache[i] for i in b])[0] for b in order]
    return out[: steps + 5], vocab


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_loop(step, inputs, device: str) -> float:
    for x in inputs[:5]:  # warm-up: cuDNN plans, allocator
        step(x)
    sync(device)
    t = time.perf_counter()
    for x in inputs[5:]:
        step(x)
    sync(device)
    return time.perf_counter() - t


def ours(hidden: int, vocab, inputs, device: str, bf16: bool) -> float:
    torch.manual_seed(0)
    model = LanguageModel(LMConfig(len(vocab), 128, hidden, 3, cell="lstm", pad_id=vocab.pad_id)).to(device)
    cuda = device.startswith("cuda")
    opt = torch.optim.Adam(model.parameters(), 1e-3, **({"fused": True} if cuda else {}))
    kind = "cuda" if cuda else "cpu"

    def step(ids):
        with torch.autocast(kind, dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss(ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    on_device = [x.to(device, non_blocking=True) for x in inputs]
    return time_loop(step, on_device, device)


def bare(hidden: int, inputs, device: str, bf16: bool) -> float:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(128, hidden, 3, batch_first=True).to(device)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    xs = [torch.randn(x.shape[0], x.shape[1] - 1, 128, device=device) for x in inputs]

    def step(x):
        with torch.autocast(kind, dtype=torch.bfloat16, enabled=bf16):
            out, _ = lstm(x)
        out.float().sum().backward()

    return time_loop(step, xs, device)


def sampling(hidden: int, vocab, device: str, n: int) -> float:
    from chemrnn.sample import sample

    torch.manual_seed(0)
    model = LanguageModel(LMConfig(len(vocab), 128, hidden, 3, cell="lstm", pad_id=vocab.pad_id)).to(device).eval()
    sample(model, vocab, AtomTokenizer(), 256, batch_size=256, max_length=100, seed=1, device=device)  # warm-up
    sync(device)
    t = time.perf_counter()
    sample(model, vocab, AtomTokenizer(), n, batch_size=min(n, 4096), max_length=100, seed=0, device=device)
    sync(device)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output", type=Path)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--shapes", default="768x64,1024x128", help="HIDDENxBATCH, comma-separated")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--sample-n", type=int, default=10_000)
    args = ap.parse_args()
    device = torch_device(args.device)
    if device.startswith("cuda"):
        torch.set_float32_matmul_precision("high")  # as lm train sets it on a GPU
    res = {"machine": machine(), "device": device,
           "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None, "shapes": {}}
    for shape in args.shapes.split(","):
        hidden, batch = (int(v) for v in shape.split("x"))
        inputs, vocab = batches(batch, args.steps)
        tokens = sum(int((x[:, 1:] != vocab.pad_id).sum()) for x in inputs[5:])
        row = {"hidden": hidden, "batch": batch, "steps": args.steps, "useful_tokens": tokens}
        for precision, bf16 in (("fp32", False), ("bf16", True)):
            row[f"ours_{precision}_tokens_per_s"] = tokens / ours(hidden, vocab, inputs, device, bf16)
            row[f"bare_{precision}_tokens_per_s"] = tokens / bare(hidden, inputs, device, bf16)
            row[f"ratio_{precision}"] = row[f"ours_{precision}_tokens_per_s"] / row[f"bare_{precision}_tokens_per_s"]
        row["sample_molecules_per_s"] = sampling(hidden, vocab, device, args.sample_n)
        res["shapes"][shape] = row
        print(json.dumps(row), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
