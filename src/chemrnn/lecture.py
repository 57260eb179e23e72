"""The lecture's demonstrations: the char-level "hello" model, parameter counts, BPTT gradient flow, exploding
gradients and clipping, and long-range dependencies in SMILES (ring closures and branches).

``run_hello``, ``run_gradients`` and ``run_long_range`` are whole demonstrations: they read the data, train,
write the run directory (``config.json``, CSV tables, figures, ``metrics.json``) and return the metrics, so the
``chemrnn lecture`` commands only call them and print.

``gru_form`` picks the GRU's candidate (see :class:`chemrnn.cells.GRUCell`): ``"lecture"`` applies the reset gate
before the recurrent product, ``h̃_t = tanh(W_h[r_t*h_{t-1}, x_t] + b_h)``, and runs on the lecture's cells only;
``"pytorch"`` applies it after, ``h̃_t = tanh(W_hx x_t + b_h + r_t*(W_hh h_{t-1} + b_hh))``, and has a fused twin.

The training loops here are written out by hand on purpose (forward, ``loss.backward()`` = BPTT, optional
``clip_grad_norm_``, ``optimizer.step()``): they are what the lecture teaches. Production training of the
package's models runs on Lightning (``chemrnn.training``).
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cells import CELLS, Recurrent, count_parameters, gru_reset_after, parameter_formula
from .datasets import resolve_input, smiles_column
from .io import atomic_write, load_smiles_list
from .models.language import LanguageModel, LMConfig
from .runinfo import record, write_json
from .utils import pyplot, save_fig, seed_everything


# ------------------------------------------------------------------------------------------- params
def parameter_table(input_size: int = 32, hidden_size: int = 256, num_layers: int = 1) -> list[dict]:
    """Formula vs counted parameters for each cell and impl (the lecture's size comparison); the GRU in both forms
    (``gru_form``: None for the other cells)."""
    rows = []
    for cell in CELLS:
        variants = [("lecture", "lecture"), ("lecture", "pytorch"), ("fused", "pytorch")] if cell == "gru" else \
            [("lecture", None), ("fused", None)]
        for impl, form in variants:
            m = Recurrent(cell, input_size, hidden_size, num_layers, impl=impl,
                          reset_after=gru_reset_after(form or "pytorch"))
            rows.append({"cell": cell, "impl": impl, "gru_form": form,
                         "formula": parameter_formula(cell, input_size, hidden_size, num_layers, impl,
                                                      form or "pytorch"),
                         "counted": count_parameters(m)})
    return rows


# -------------------------------------------------------------------------------------------- hello
HELLO_VOCAB = ["h", "e", "l", "o"]


def resolve_gru_form(gru_form: str | None, impl: str = "lecture") -> str:
    """The GRU form to run: ``None`` means the lecture's form on the lecture's cells and PyTorch's on fused kernels.

    The lecture's form (``h̃_t = tanh(W_h[r_t*h_{t-1}, x_t] + b_h)``) has no fused kernel, so asking for it with
    ``impl="fused"`` is a ``ValueError``.
    """
    if gru_form is None:
        return "lecture" if impl == "lecture" else "pytorch"
    gru_reset_after(gru_form)  # validates the name
    if gru_form == "lecture" and impl == "fused":
        raise ValueError("the lecture's GRU form (reset gate before the recurrent product) has no fused kernel: "
                         "use impl 'lecture' or gru_form 'pytorch'")
    return gru_form


@dataclass
class HelloResult:
    cell: str
    losses: list[float]
    generated: str
    steps: list[dict] = field(default_factory=list)  # per generated char: input, softmax over h/e/l/o, chosen
    impl: str = "lecture"
    gru_form: str | None = None  # the GRU's form ("lecture" | "pytorch"); None for the other cells


class CharLM(nn.Module):
    """The lecture's char-level model: one-hot input → recurrent cell → linear → softmax over 4 letters."""

    def __init__(self, cell: str = "rnn", hidden_size: int = 8, impl: str = "lecture", gru_form: str = "lecture"):
        super().__init__()
        self.rnn = Recurrent(cell, len(HELLO_VOCAB), hidden_size, 1, impl=impl, reset_after=gru_reset_after(gru_form))
        self.head = nn.Linear(hidden_size, len(HELLO_VOCAB))

    def forward(self, ids, state=None):
        x = F.one_hot(ids, len(HELLO_VOCAB)).float()
        out, state = self.rnn(x, state=state)
        return self.head(out), state


def hello(cell: str = "rnn", hidden_size: int = 8, steps: int = 300, lr: float = 0.05, seed: int = 0,
          impl: str = "lecture", gru_form: str | None = None) -> HelloResult:
    """Train on "hello" (inputs h,e,l,l → targets e,l,l,o), then generate 4 letters greedily from "h".

    A GRU runs the lecture's form (``h̃_t = tanh(W_h[r_t*h_{t-1}, x_t] + b_h)``) unless ``impl="fused"`` or
    ``gru_form="pytorch"`` (see :func:`resolve_gru_form`).
    """
    gru_form = resolve_gru_form(gru_form, impl)
    seed_everything(seed)
    model = CharLM(cell, hidden_size, impl, gru_form)
    ids = torch.tensor([[HELLO_VOCAB.index(c) for c in "hello"]])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits[0], ids[0, 1:])  # the sum over time of the per-step losses, averaged
        opt.zero_grad()
        loss.backward()  # backpropagation through time over the 4 unrolled steps
        opt.step()
        losses.append(loss.item())
    model.eval()
    out, table = "h", []
    state = None
    token = ids[:, :1]
    with torch.no_grad():
        for _ in range(4):
            logits, state = model(token, state)
            p = torch.softmax(logits[0, -1], dim=-1)
            choice = int(p.argmax())
            table.append({"input": HELLO_VOCAB[int(token)], **{c: float(p[i]) for i, c in enumerate(HELLO_VOCAB)},
                          "chosen": HELLO_VOCAB[choice]})
            out += HELLO_VOCAB[choice]
            token = torch.tensor([[choice]])
    return HelloResult(cell, losses, out, table, impl, gru_form if cell == "gru" else None)


def run_hello(output: str | Path | None = None, cell: str = "rnn", hidden: int = 8, steps: int = 300,
              impl: str = "lecture", gru_form: str | None = None, seed: int = 0) -> HelloResult:
    """``chemrnn lecture hello``: :func:`hello`, and with ``output`` the run directory (``config.json``,
    ``hello.png``: loss curve and softmax per step, ``metrics.json``: losses, generated word, softmax table)."""
    res = hello(cell, hidden, steps, seed=seed, impl=impl, gru_form=gru_form)
    if output is not None:
        output = Path(output)
        record(output, {"cell": cell, "hidden": hidden, "steps": steps, "impl": impl, "gru_form": res.gru_form,
                        "seed": seed})
        plot_hello(res, output / "hello.png")
        write_json(output / "metrics.json", {"cell": cell, "impl": impl, "gru_form": res.gru_form,
                                             "first_loss": res.losses[0], "final_loss": res.losses[-1],
                                             "generated": res.generated, "softmax": res.steps})
    return res


# --------------------------------------------------------------------------------- SMILES streams
def smiles_windows(smiles: list[str], tokenizer, vocab, length: int, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` windows of ``length + 1`` token ids cut at random from the SMILES joined into one stream, each
    molecule ended by <eos> (which also separates it from the next), as a char-level LM on text sees them."""
    ids = [i for s in smiles for i in (*vocab.encode(tokenizer.tokenize(s), add_bos_eos=False), vocab.eos_id)]
    stream = torch.tensor(ids)
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(stream) - length - 1, (n,), generator=g)
    return torch.stack([stream[s: s + length + 1] for s in starts.tolist()])


def _window_lm(cell: str, vocab_size: int, hidden: int, impl: str = "fused", gru_form: str = "pytorch"
               ) -> LanguageModel:
    return LanguageModel(LMConfig(vocab_size, embedding_dim=32, hidden_size=hidden, num_layers=1, cell=cell,
                                  impl=impl, gru_form=gru_form))


def gradient_norm(parameters) -> float:
    """‖g‖ over all parameters, accumulated in float64 so that a huge (but finite) float32 gradient is measured
    instead of overflowing to inf."""
    total = 0.0
    for p in parameters:
        if p.grad is not None:
            total += float(p.grad.detach().double().pow(2).sum())
    return math.sqrt(total)


def clip_gradient_norm(parameters, max_norm: float) -> float:
    """Gradient clipping by norm (Pascanu et al. 2013): if ‖g‖ > threshold, g ← g · threshold / ‖g‖.

    Returns the norm before clipping. Same rule as ``torch.nn.utils.clip_grad_norm_``, with the norm taken in
    float64 (see :func:`gradient_norm`).
    """
    parameters = [p for p in parameters if p.grad is not None]
    norm = gradient_norm(parameters)
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / norm
        for p in parameters:
            p.grad.mul_(scale)
    return norm


def train_windows(model: LanguageModel, windows: torch.Tensor, steps: int, batch_size: int = 32, lr: float = 3e-3,
                  clip: float | None = 1.0, seed: int = 0, optimizer: str = "adam") -> list[dict]:
    """Plain BPTT training on token windows; returns a log of loss and gradient norm per step.

    The loop is the naive one (it steps whatever the gradient); it stops at the first non-finite loss and
    records it (``nan_at``) instead of crashing or training on NaN.
    """
    g = torch.Generator().manual_seed(seed)
    opt = (torch.optim.Adam(model.parameters(), lr=lr) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=lr))
    log = []
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(windows), (batch_size,), generator=g)
        loss = model.loss(windows[idx])
        opt.zero_grad()
        loss.backward()
        entry = {"step": step, "loss": loss.item()}
        log.append(entry)
        if not math.isfinite(entry["loss"]):
            entry["nan_at"] = step
            break
        entry["grad_norm"] = (clip_gradient_norm(model.parameters(), clip) if clip
                              else gradient_norm(model.parameters()))
        opt.step()
    return log


# ----------------------------------------------------------------------------------- BPTT study
def gradient_profile(model: LanguageModel, windows: torch.Tensor) -> np.ndarray:
    """Mean ‖∂L_T/∂h_t‖ over a batch, for t = 1..T, where L_T is the loss of the last prediction only.

    The model's (first-layer) lecture cell is unrolled here by hand so that every h_t is a leaf of the graph
    whose gradient can be read: this is BPTT made visible. Index ``T - t`` of the result is the distance.
    """
    cell = model.rnn.cells[0] if model.rnn.impl == "lecture" else None
    if cell is None:
        raise ValueError("gradient_profile needs impl='lecture'")
    model.eval()
    x = model.embedding(windows[:, :-1])
    B, T, _ = x.shape
    h = x.new_zeros(B, model.config.hidden_size)
    c = torch.zeros_like(h)
    hs = []
    for t in range(T):
        if model.config.cell == "lstm":
            h, c = cell(x[:, t], (h, c))
        else:
            h = cell(x[:, t], h)
        h.retain_grad()
        hs.append(h)
    loss = F.cross_entropy(model.head(hs[-1]), windows[:, -1])
    loss.backward()
    norms = np.array([hs[t].grad.norm(dim=1).mean().item() for t in range(T)])
    return norms[::-1].copy()  # index = distance T - t


@dataclass
class GradientStudy:
    distances: np.ndarray
    profiles: dict  # (cell, "init"|"trained") -> norms by distance
    ratios: dict  # (cell, phase) -> ‖∂L/∂h_{T-d}‖ / ‖∂L/∂h_T‖ at d = ratio_distance
    ratio_distance: int
    explode: dict  # "no clipping" / "clipping" -> training log
    gru_form: str = "pytorch"


def gradient_study(smiles: list[str], tokenizer, vocab, hidden: int = 128, length: int = 60, train_steps: int = 300,
                   batch_size: int = 32, seed: int = 0, explode_steps: int = 300, explode_scale: float = 3.0,
                   explode_lr: float = 2.0, ratio_distance: int = 50, gru_form: str = "pytorch") -> GradientStudy:
    """‖∂L/∂h_t‖ against T − t for the three cells at initialisation and after training; an exploding run.

    Each model trains on PyTorch's fused kernels and its profile is read from the lecture's cells loaded with the
    same weights. A GRU in the lecture's form (``gru_form="lecture"``, ``h̃_t = tanh(W_h[r_t*h_{t-1}, x_t] +
    b_h)``) has no fused twin: it trains on the lecture's cells themselves (slower).
    """
    gru_reset_after(gru_form)  # validates the name
    windows = smiles_windows(smiles, tokenizer, vocab, length, 4096, seed)
    probe = windows[:256]
    profiles, ratios = {}, {}
    for cell in CELLS:
        form = gru_form if cell == "gru" else "pytorch"
        seed_everything(seed)
        trained = _window_lm(cell, len(vocab), hidden, "fused" if form == "pytorch" else "lecture", form)
        for phase in ("init", "trained"):
            if phase == "trained":
                train_windows(trained, windows, train_steps, batch_size, seed=seed)
            lecture = _window_lm(cell, len(vocab), hidden, "lecture", form)
            lecture.load_state_dict(trained.state_dict())  # same weights, the lecture's unrolled cell
            prof = gradient_profile(lecture, probe)
            profiles[(cell, phase)] = prof
            d = min(ratio_distance, len(prof) - 1)
            ratios[(cell, phase)] = float(prof[d] / prof[0])
    explode = exploding_demo(windows, len(vocab), hidden, explode_steps, batch_size, explode_scale, explode_lr, seed)
    return GradientStudy(np.arange(length), profiles, ratios, ratio_distance, explode, gru_form)


def exploding_demo(windows, vocab_size: int, hidden: int, steps: int, batch_size: int, scale: float, lr: float,
                   seed: int) -> dict:
    """A vanilla RNN with large recurrent weights trained by SGD, without and with gradient clipping."""
    logs = {}
    for name, clip in (("no clipping", None), ("clipping", 1.0)):
        seed_everything(seed)
        model = _window_lm("rnn", vocab_size, hidden, "fused")
        with torch.no_grad():
            w = model.rnn.rnn.weight_hh_l0
            q, _ = torch.linalg.qr(torch.randn_like(w))
            w.copy_(scale * q)  # spectral radius = scale > 1: the recurrent Jacobian amplifies gradients
        logs[name] = train_windows(model, windows, steps, batch_size, lr=lr, clip=clip, seed=seed, optimizer="sgd")
    return logs


def explain_explosion(log: list[dict], factor: float = 3.0) -> tuple[bool, str]:
    """Did the run blow up? A non-finite loss, or a loss above ``factor`` × its first value; with a message."""
    first = log[0]["loss"]
    peak = max((e.get("grad_norm", 0.0) for e in log), default=float("nan"))
    last = log[-1]
    if "nan_at" in last:
        return True, (f"loss turned {last['loss']} at step {last['nan_at']}: exploding gradients (gradient norm "
                      f"reached {peak:.3g}); clip the gradient norm or lower the learning rate")
    for e in log:
        if e["loss"] > factor * first:
            return True, (f"loss exploded from {first:.2f} to {e['loss']:.2f} at step {e['step']} after a gradient "
                          f"norm of {peak:.3g}; final loss {last['loss']:.2f}: clip the gradient norm or lower the "
                          f"learning rate")
    return False, (f"stable: loss {first:.2f} → {last['loss']:.2f} in {len(log)} steps "
                   f"(largest gradient norm {peak:.3g})")


# -------------------------------------------------------------------------------- long-range study
RING_DIGIT = "ring"
BRANCH = "branch"


def closing_pairs(tokens: list[str]) -> list[tuple[str, int, int]]:
    """(kind, open position, close position) for every ring closure and every branch in a token list.

    A ring-bond number opens at its first occurrence and closes at its next one (then it may be reused);
    ')' closes the most recent open '('.
    """
    pairs, open_rings, stack = [], {}, []
    for pos, tok in enumerate(tokens):
        if tok.isdigit() or (tok.startswith("%") and tok[1:].isdigit()):
            if tok in open_rings:
                pairs.append((RING_DIGIT, open_rings.pop(tok), pos))
            else:
                open_rings[tok] = pos
        elif tok == "(":
            stack.append(pos)
        elif tok == ")" and stack:
            pairs.append((BRANCH, stack.pop(), pos))
    return pairs


SPAN_BINS = [(1, 4), (5, 8), (9, 12), (13, 16), (17, 24), (25, 1000)]


def closure_scores(model: LanguageModel, smiles: list[str], tokenizer, vocab, batch_size: int = 256) -> list[dict]:
    """For each closing token in held-out SMILES: its kind, span, the model's probability of it, and whether
    it is the model's most likely token (teacher forcing on the true prefix)."""
    from .batching import collate

    model.eval()
    out = []
    for start in range(0, len(smiles), batch_size):
        chunk = smiles[start: start + batch_size]
        toks = [tokenizer.tokenize(s) for s in chunk]
        batch, _ = collate([np.array(vocab.encode(t, unknown="unk")) for t in toks])
        with torch.no_grad():
            logits, _ = model(batch[:, :-1])
            logp = torch.log_softmax(logits, dim=-1)
        for b, t in enumerate(toks):
            for kind, o, c in closing_pairs(t):
                pos = c  # token c sits at index c + 1 of the batch (after <bos>); predicted from position c
                target = batch[b, c + 1]
                lp = logp[b, pos]
                out.append({"kind": kind, "span": c - o, "p": float(lp[target].exp()),
                            "top1": bool(int(lp.argmax()) == int(target))})
    return out


def summarize_closures(scores: list[dict]) -> list[dict]:
    rows = []
    for kind in (RING_DIGIT, BRANCH):
        for lo, hi in SPAN_BINS:
            sel = [s for s in scores if s["kind"] == kind and lo <= s["span"] <= hi]
            if sel:
                rows.append({"kind": kind, "span": f"{lo}-{hi}" if hi < 1000 else f"{lo}+", "n": len(sel),
                             "mean_p": float(np.mean([s["p"] for s in sel])),
                             "top1": float(np.mean([s["top1"] for s in sel]))})
    return rows


def long_range_study(train_smiles: list[str], test_smiles: list[str], tokenizer, vocab, hidden: int = 128,
                     steps: int = 1500, batch_size: int = 64, seed: int = 0, lr: float = 3e-3,
                     gru_form: str = "pytorch") -> dict:
    """Train vanilla RNN, LSTM and GRU language models with the same budget (steps, batch, width) on the same
    SMILES; score ring-closure and branch-closing predictions by span on held-out SMILES.

    The models run on PyTorch's fused kernels; a GRU in the lecture's form (``gru_form="lecture"``) has none and
    trains on the lecture's cells (same result for the same weights, several times slower)."""
    from .batching import BucketBatchSampler, collate

    gru_reset_after(gru_form)  # validates the name
    enc = [np.array(vocab.encode(tokenizer.tokenize(s), unknown="unk")) for s in train_smiles]
    lengths = [len(e) for e in enc]
    results = {}
    for cell in CELLS:
        form = gru_form if cell == "gru" else "pytorch"
        seed_everything(seed)
        model = LanguageModel(LMConfig(len(vocab), embedding_dim=32, hidden_size=hidden, num_layers=1, cell=cell,
                                       impl="fused" if form == "pytorch" else "lecture", gru_form=form))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sampler = BucketBatchSampler(lengths, batch_size, seed=seed)
        t0, step, losses = time.perf_counter(), 0, []
        while step < steps:
            for idx in sampler:
                batch, _ = collate([enc[i] for i in idx])
                loss = model.loss(batch)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                losses.append(loss.item())
                step += 1
                if step >= steps:
                    break
            sampler.set_epoch(sampler.epoch + 1)
        scores = closure_scores(model, test_smiles, tokenizer, vocab)
        test_nll = _mean_token_nll(model, test_smiles, tokenizer, vocab)
        results[cell] = {"table": summarize_closures(scores), "train_seconds": time.perf_counter() - t0,
                         "final_train_loss": float(np.mean(losses[-50:])), "test_token_nll": test_nll,
                         "parameters": count_parameters(model)}
        if cell == "gru":
            results[cell]["gru_form"] = form
    return results


def long_range_table(results: dict) -> list[dict]:
    """One row per (kind, span bin) of :func:`long_range_study`'s results, matched by bin (not by position):
    ``{"kind", "span", "n", "cells": {cell: {"mean_p", "top1"} or None}}``."""
    bins = {}  # (kind, span) -> number of closings; the same test SMILES for every cell
    for res in results.values():
        for r in res["table"]:
            bins.setdefault((r["kind"], r["span"]), r["n"])
    rows = []
    for (kind, span), n in bins.items():
        cells = {}
        for cell, res in results.items():
            match = [r for r in res["table"] if r["kind"] == kind and r["span"] == span]
            cells[cell] = {"mean_p": match[0]["mean_p"], "top1": match[0]["top1"]} if match else None
        rows.append({"kind": kind, "span": span, "n": n, "cells": cells})
    return rows


def _mean_token_nll(model, smiles, tokenizer, vocab) -> float:
    from .batching import collate

    model.eval()
    total = count = 0.0
    with torch.no_grad():
        for start in range(0, len(smiles), 256):
            batch, _ = collate([np.array(vocab.encode(tokenizer.tokenize(s), unknown="unk"))
                                for s in smiles[start: start + 256]])
            nll = model.token_nll(batch)
            mask = batch[:, 1:] != vocab.pad_id
            total += float(nll[mask].sum())
            count += float(mask.sum())
    return total / count


def write_csv(path: str | Path, rows: list[dict]) -> None:
    with atomic_write(path) as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


# ---------------------------------------------------------------------------------- whole demos
def load_smiles(data: str) -> tuple[list[str], Path]:
    """The SMILES of a file or dataset name (``sample``, ``moses:test_sample`` ...), and the file they came from."""
    path = resolve_input(data)
    return load_smiles_list(path, smiles_column(data)), Path(path)


def train_test_smiles(data: str, n_train: int, n_test: int, seed: int) -> tuple[list[str], list[str], Path]:
    """Random disjoint train/test draws of SMILES from a file or dataset name; a file smaller than
    ``n_train + n_test`` is split 90/10."""
    import random

    smiles, path = load_smiles(data)
    rng = random.Random(seed)
    rng.shuffle(smiles)
    if len(smiles) < n_train + n_test:
        n_test = max(1, len(smiles) // 10)
        n_train = len(smiles) - n_test
    return smiles[:n_train], smiles[n_train:n_train + n_test], path


def run_gradients(output: str | Path, data: str = "sample", hidden: int = 128, length: int = 60, steps: int = 300,
                  explode_steps: int = 300, seed: int = 0, gru_form: str = "pytorch") -> dict:
    """``chemrnn lecture gradients``: :func:`gradient_study` on atom tokens of ``data``, written to ``output``
    (``config.json``, ``gradients.csv``, ``explode.csv``, ``gradients.png``, ``metrics.json``).

    Returns the metrics: ``ratio_distance``; ``ratios[cell] = {"init", "trained"}``, the ratio
    ``‖∂L/∂h_{T−d}‖ / ‖∂L/∂h_T‖`` at ``d = ratio_distance``; ``explode[run] = {"exploded", "message",
    "final_loss"}`` for the runs without and with clipping; ``gru_form``.
    """
    from .tokens import Vocabulary, get_tokenizer

    output = Path(output)
    smiles, path = load_smiles(data)
    record(output, {"data": data, "hidden": hidden, "length": length, "steps": steps, "explode_steps": explode_steps,
                    "seed": seed, "gru_form": gru_form}, path)
    tok = get_tokenizer("atom")
    vocab = Vocabulary.build(tok.tokenize(s) for s in smiles)
    study = gradient_study(smiles, tok, vocab, hidden, length, steps, seed=seed, explode_steps=explode_steps,
                           gru_form=gru_form)
    write_csv(output / "gradients.csv", [{"cell": c, "phase": p, "distance": d, "grad_norm": float(v)}
                                         for (c, p), prof in study.profiles.items() for d, v in enumerate(prof)])
    write_csv(output / "explode.csv", [{"run": k, **e} for k, log in study.explode.items() for e in log])
    plot_gradient_study(study, output / "gradients.png")
    metrics = {"ratio_distance": study.ratio_distance, "gru_form": gru_form,
               "ratios": {c: {"init": study.ratios[(c, "init")], "trained": study.ratios[(c, "trained")]}
                          for c in CELLS},
               "explode": {}}
    for name, log in study.explode.items():
        blew, msg = explain_explosion(log)
        metrics["explode"][name] = {"exploded": blew, "message": msg, "final_loss": log[-1]["loss"]}
    write_json(output / "metrics.json", metrics)
    return metrics


def run_long_range(output: str | Path, data: str = "sample", n_train: int = 9000, n_test: int = 1000,
                   hidden: int = 128, steps: int = 1500, batch_size: int = 64, seed: int = 0,
                   gru_form: str = "pytorch") -> dict:
    """``chemrnn lecture long-range``: :func:`long_range_study` on a random train/test draw of ``data``, written to
    ``output`` (``config.json``, ``long_range.csv``, ``long_range.png``, ``metrics.json``).

    Returns the metrics, one entry per cell: ``table`` (by kind and span bin: ``n``, ``mean_p``, ``top1``),
    ``train_seconds``, ``final_train_loss``, ``test_token_nll``, ``parameters`` (and ``gru_form`` for the GRU).
    """
    from .tokens import Vocabulary, get_tokenizer

    output = Path(output)
    train, test, path = train_test_smiles(data, n_train, n_test, seed)
    record(output, {"data": data, "train_size": len(train), "test_size": len(test), "hidden": hidden,
                    "steps": steps, "batch_size": batch_size, "seed": seed, "gru_form": gru_form}, path)
    tok = get_tokenizer("atom")
    vocab = Vocabulary.build(tok.tokenize(s) for s in train)
    results = long_range_study(train, test, tok, vocab, hidden, steps, batch_size, seed, gru_form=gru_form)
    write_csv(output / "long_range.csv", [{"cell": c, **r} for c, res in results.items() for r in res["table"]])
    plot_long_range(results, output / "long_range.png")
    write_json(output / "metrics.json", results)
    return results


# ------------------------------------------------------------------------------------------- plots
def plot_gradient_study(study: GradientStudy, path: str | Path) -> None:
    """Two panels: ‖∂L/∂h_t‖ vs T − t (log scale) per cell at init and trained; the exploding run's loss."""
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
    for (cell, phase), prof in study.profiles.items():
        ax.semilogy(study.distances[: len(prof)], prof, color=colors[cell], ls="--" if phase == "init" else "-",
                    label=f"{cell} ({phase})")
    ax.set_xlabel("distance T − t (tokens)")
    ax.set_ylabel("mean ‖∂L_T/∂h_t‖")
    ax.set_title("gradient flow back through time")
    ax.legend(fontsize=8)
    for name, log in study.explode.items():
        bx.plot([e["step"] for e in log], [e["loss"] for e in log], label=name)
    bx.set_xlabel("SGD step")
    bx.set_ylabel("training loss")
    bx.set_title("vanilla RNN, large recurrent weights")
    bx.legend()
    fig.tight_layout()
    save_fig(fig, path)


def plot_long_range(results: dict, path: str | Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, kind in zip(axes, (RING_DIGIT, BRANCH)):
        for cell, res in results.items():
            rows = [r for r in res["table"] if r["kind"] == kind]
            ax.plot([r["span"] for r in rows], [r["mean_p"] for r in rows], marker="o", label=cell)
        ax.set_title("ring closure digit" if kind == RING_DIGIT else "branch ')'")
        ax.set_xlabel("span between opening and closing token")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("mean probability of the correct closing token")
    axes[0].legend()
    fig.tight_layout()
    save_fig(fig, path)


def plot_hello(result: HelloResult, path: str | Path) -> None:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax.semilogy(result.losses)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.set_title(f"training on 'hello' ({result.cell})")
    probs = np.array([[row[c] for c in HELLO_VOCAB] for row in result.steps])
    bx.imshow(probs.T, cmap="Blues", vmin=0, vmax=1)
    bx.set_yticks(range(len(HELLO_VOCAB)), HELLO_VOCAB)
    bx.set_xticks(range(len(result.steps)), [f"in '{r['input']}'" for r in result.steps])
    bx.set_title("softmax at each step")
    fig.tight_layout()
    save_fig(fig, path)
