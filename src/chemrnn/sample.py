"""Batched sampling from a language model, the likelihood of given SMILES, and sampling at scale into shards.

Sampling draws every sequence of a batch in parallel, one token per step from ``softmax(logits / T)``; a
sequence that emits <eos> leaves the batch at once (its row is dropped from the state), so the cost follows the
real lengths, not ``max_length``. The log-likelihood of each sampled sequence is accumulated on the way, under
the distribution it was drawn from: ``Samples.nll = -Σ_t log softmax(logits_t / T)[token_t]`` over the sampled tokens
and the final <eos> (none when ``max_length`` cut the sequence off). At T = 1 that is what :func:`likelihood`
assigns to the same token sequence afterwards; at T ≠ 1 it is :func:`likelihood` with the same ``temperature``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .datasets import canonical_set
from .errors import InputError
from .models.language import LanguageModel, load_lm
from .models.modelfile import training_sources
from .tokens import Tokenizer, Vocabulary


@dataclass
class Samples:
    smiles: list[str]
    nll: np.ndarray  # -log p of each sampled token sequence (with <eos>) under softmax(logits / T), T as sampled
    lengths: np.ndarray  # tokens per sample (without <bos>, with <eos>)
    finished: np.ndarray  # False where max_length was hit before <eos>
    token_ids: list  # the sampled ids of each sequence (without <bos> and <eos>)


def _device(model, device: str) -> str:
    """The torch device for ``device``: ``auto`` is wherever the model's weights are, ``gpu`` is ``cuda``."""
    if device == "auto":
        return str(next(model.parameters()).device)
    return {"gpu": "cuda"}.get(device, device)


def index_state(state, keep):
    """The rows ``keep`` (indices, a mask or a slice) of a recurrent state (an LSTM's (h, c) pairwise)."""
    if isinstance(state, tuple):
        return tuple(s[:, keep] for s in state)
    return state[:, keep]


@torch.no_grad()
def sample(model: LanguageModel, vocabulary: Vocabulary, tokenizer: Tokenizer, n: int, *, temperature: float = 1.0,
           batch_size: int = 1024, max_length: int = 140, seed: int | None = None, device: str = "cpu",
           progress=None) -> Samples:
    """Draw ``n`` sequences; returns the detokenized strings (valid SMILES or not) with their NLLs under the
    tempered distribution. ``device``: where the model is (``auto``: found from the model; ``gpu`` = ``cuda``)."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    device = _device(model, device)
    model.eval()
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) if seed is not None else int(torch.seed() % (2**63)))
    out_tokens: list[list[int]] = []
    nlls, lens, fins = [], [], []
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        toks, nll, fin = _sample_batch(model, vocabulary, b, temperature, max_length, gen, device)
        out_tokens += toks
        nlls.append(nll)
        fins.append(fin)
        lens += [len(t) + (1 if f else 0) for t, f in zip(toks, fin)]
        done += b
        if progress is not None:
            progress("sampling", done, n)
    tokens_of = vocabulary.tokens
    smiles = [tokenizer.detokenize([tokens_of[i] for i in t]) for t in out_tokens]
    return Samples(smiles, np.concatenate(nlls), np.array(lens), np.concatenate(fins), out_tokens)


def _sample_batch(model, vocabulary, b, temperature, max_length, gen, device):
    eos = vocabulary.eos_id
    token = torch.full((b, 1), vocabulary.bos_id, dtype=torch.long, device=device)
    alive = torch.arange(b, device=device)  # original row of each live sequence
    state = None
    buf = torch.full((b, max_length), vocabulary.pad_id, dtype=torch.long, device=device)
    nll = torch.zeros(b, dtype=torch.float64, device=device)
    finished = torch.zeros(b, dtype=torch.bool, device=device)
    for step in range(max_length):
        logits, state = model(token, state)
        logits = logits[:, -1].float() / temperature  # <pad>/<bos>/<unk> are masked by the model itself
        logp = torch.log_softmax(logits, dim=-1)
        nxt = torch.multinomial(logp.exp(), 1, generator=gen).squeeze(1)
        nll[alive] -= logp.gather(1, nxt[:, None]).squeeze(1).double()
        buf[alive, step] = nxt
        alive, nxt, state = drop_ended(nxt == eos, finished, alive, nxt, state)
        if not len(alive):
            break
        token = nxt[:, None]
    rows = buf.cpu().numpy()
    seqs = []
    for row in rows:
        stop = np.flatnonzero((row == eos) | (row == vocabulary.pad_id))
        seqs.append(row[: stop[0] if len(stop) else len(row)].tolist())
    return seqs, nll.cpu().numpy(), finished.cpu().numpy()


def drop_ended(ended, finished, alive, nxt, state):
    """Rows that wrote <eos> leave the batch: marked in ``finished`` (by original row), dropped from the live rows,
    their next tokens and the recurrent state. Returns ``(alive, nxt, state)``; ``alive`` is empty once all ended."""
    if not ended.any():
        return alive, nxt, state
    finished[alive[ended]] = True
    keep = ~ended
    if not keep.any():
        return alive[keep], nxt[keep], state
    return alive[keep], nxt[keep], index_state(state, keep)


@torch.no_grad()
def likelihood(model: LanguageModel, vocabulary: Vocabulary, tokenizer: Tokenizer, smiles: list[str], *,
               batch_size: int = 512, device: str = "cpu", unknown: str = "error",
               temperature: float = 1.0) -> np.ndarray:
    """Negative log-likelihood of each SMILES under the model (sum over its tokens and <eos>); with
    ``temperature`` T, under ``softmax(logits / T)``, the distribution :func:`sample` draws from at T."""
    from .batching import collate

    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    device = _device(model, device)
    model.eval()
    encoded = [np.array(vocabulary.encode(tokenizer.tokenize(s), unknown=unknown)) for s in smiles]
    order = np.argsort([len(e) for e in encoded], kind="stable")  # batches of similar lengths: little padding
    out = np.zeros(len(smiles))
    for start in range(0, len(smiles), batch_size):
        rows = order[start: start + batch_size]
        batch, _ = collate([encoded[i] for i in rows])
        batch = batch.to(device)
        if temperature == 1.0:
            out[rows] = model.sequence_nll(batch).double().cpu().numpy()
            continue
        logits, _ = model(batch[:, :-1])
        logp = torch.log_softmax(logits.float() / temperature, dim=-1)
        target = batch[:, 1:]
        nll = -logp.gather(2, target[:, :, None]).squeeze(2) * (target != vocabulary.pad_id)
        out[rows] = nll.sum(1).double().cpu().numpy()
    return out


# ------------------------------------------------------------------ sampling at scale
def shard_name(i: int, shards: int) -> str:
    return f"shard-{i:05d}-of-{shards:05d}.smi"


def _hash64(smiles):
    """The 64-bit hash (BLAKE2b) of each SMILES, in order: 8 bytes a molecule, 10 M molecules in 80 MB."""
    import hashlib

    return np.fromiter((int.from_bytes(hashlib.blake2b(x.encode(), digest_size=8).digest(), "little")
                        for x in smiles), dtype=np.uint64)


def sample_shards(loaded, n: int, shards: int, out_dir, *, model_name: str, temperature: float = 1.0,
                  batch_size: int = 1024, max_length: int = 140, seed: int = 0, device: str = "cpu", progress=None,
                  known: set | None = None) -> dict:
    """Sampling at scale: ``n`` draws in ``shards`` shards, ``OUT/shard-00000-of-0000K.smi`` …, each
    holding the valid canonical molecules not written before (in an earlier shard or earlier in the same one), so
    the shards together are a de-duplicated library. Shard ``i`` draws ``n // shards`` (+1 for the first
    ``n % shards``) with a seed of its own (from ``seed`` and ``i``), so a rerun of the same command skips the
    finished shards (each written atomically) and continues with the same result as an uninterrupted run;
    other settings in the same folder are refused. ``OUT/manifest.json`` counts drawn, valid and new molecules per
    shard. Molecules already written are remembered as 64-bit hashes (a collision would drop one molecule in
    ~10^11 at 10 M). ``known`` (canonical SMILES, e.g. the training set: ``--novel-only``) are never written.
    ``loaded``: the model (:class:`~chemrnn.models.language.LoadedModel`), ``model_name`` what it was loaded from
    (recorded). ``progress("shards", done, shards)`` after each shard."""
    import json

    from . import chem
    from .io import load_smiles_list, write_smiles
    from .runinfo import write_json

    out_dir = Path(out_dir)
    # everything that changes the draws: the batch size splits the random stream, and another device draws another
    settings = {"model": model_name, "n": n, "shards": shards, "temperature": temperature,
                "max_length": max_length, "seed": seed, "known": len(known) if known is not None else None,
                "batch_size": batch_size, "device": _device(loaded[0], device).split(":")[0]}
    manifest_path = out_dir / "manifest.json"
    manifest = {"settings": settings, "shards": {}}
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        before = old.get("settings", {})
        # a setting a manifest does not record (written before it was recorded) is taken as the same
        diff = sorted(k for k in settings if k in before and before[k] != settings[k])
        if diff:
            raise InputError(f"holds shards sampled with other settings ({', '.join(diff)}); use another folder",
                             out_dir)
        manifest = {**old, "settings": settings}
    out_dir.mkdir(parents=True, exist_ok=True)
    m, vocab, tok, _ = loaded
    seen = np.zeros(0, dtype=np.uint64)
    t0 = time.perf_counter()
    for i in range(shards):
        path = out_dir / shard_name(i, shards)
        if path.exists() and str(i) in manifest["shards"]:  # finished by an earlier sitting
            seen = np.union1d(seen, _hash64(load_smiles_list(path)))
            continue
        draws = n // shards + (1 if i < n % shards else 0)
        shard_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        s = sample(m, vocab, tok, draws, temperature=temperature, batch_size=batch_size, max_length=max_length,
                   seed=shard_seed, device=device)
        canon = [chem.canonical_or_none(x) for x in s.smiles]
        fresh = list(dict.fromkeys(c for c in canon if c is not None and (known is None or c not in known)))
        h = _hash64(fresh)
        keep = ~np.isin(h, seen)  # and not in an earlier shard
        written = [c for c, k in zip(fresh, keep) if k]
        write_smiles(path, written)
        seen = np.union1d(seen, h[keep])
        valid = len(canon) - canon.count(None)
        manifest["shards"][str(i)] = {"file": path.name, "drawn": draws, "valid": valid, "written": len(written)}
        write_json(manifest_path, manifest)
        if progress is not None:
            progress("shards", i + 1, shards)
    per = manifest["shards"].values()
    total = {"drawn": sum(x["drawn"] for x in per), "valid": sum(x["valid"] for x in per),
             "written": sum(x["written"] for x in per), "shards": shards, "seconds": time.perf_counter() - t0}
    return total


def sample_smiles(model=None, n: int = 1000, *, temperature: float = 1.0, batch_size: int = 1024,
                  max_length: int = 140, seed: int = 0, device: str = "cpu", valid_only: bool = False,
                  unique_only: bool = False, progress=None, impl: str = "fused", novel_only: bool = False,
                  exclude=None) -> dict:
    """Sample ``n`` strings; return them with validity/uniqueness counts and the strings to write.

    ``valid_only``/``unique_only``/``novel_only`` write canonical SMILES; ``novel_only`` (Segler's focused
    libraries want molecules that are not already known) keeps those absent from ``exclude`` (a set of canonical
    SMILES, or sources for :func:`canonical_set`; default: the model's own :func:`training_sources`), and also
    writes each molecule once."""
    from . import chem

    m, vocab, tok, _ = load_lm(model, impl=impl, device=device)
    known = _known(model, exclude) if novel_only else set()
    t0 = time.perf_counter()
    s = sample(m, vocab, tok, n, temperature=temperature, batch_size=batch_size, max_length=max_length, seed=seed,
               device=device, progress=progress)
    seconds = time.perf_counter() - t0
    canon = [chem.canonical_or_none(x) for x in s.smiles]
    valid = [c for c in canon if c is not None]
    written, seen = [], set()
    for raw, c in zip(s.smiles, canon):
        if valid_only or unique_only or novel_only:
            if c is None or (novel_only and c in known):
                continue
            if (unique_only or novel_only) and c in seen:
                continue
            seen.add(c)
            written.append(c)
        else:
            written.append(raw)
    res = {"samples": s, "written": written, "valid": len(valid), "unique": len(set(valid)),
           "unfinished": int((~s.finished).sum()), "seconds": seconds, "canonical": canon}
    if novel_only:
        res["novel"] = len(written)
    return res


SAMPLED_COLUMNS = ["index", "smiles", "canonical", "valid", "logP", "TPSA", "nll"]


def _known(model, exclude) -> set[str]:
    """The molecules a ``novel_only`` draw leaves out: ``exclude`` as a set of canonical SMILES, or read from its
    sources, or by default the model's training data (:func:`training_sources`)."""
    if isinstance(exclude, set):
        return exclude
    known: set[str] = set()
    for source in (training_sources(model) if exclude is None else exclude):
        known |= canonical_set(source)
    return known


def sampled_table(res: dict, known: set[str] | None = None) -> dict:
    """What a sampling run gave, molecule by molecule and in sum, from :func:`sample_smiles`'s result: ``rows``
    (index from 1, the string drawn, its canonical SMILES, valid, duplicate of an earlier draw, novel against
    ``known`` — None without it —, RDKit's logP and TPSA, the NLL it was drawn with), ``metrics`` (validity,
    uniqueness of the valid, novelty of the unique, counts, unfinished) and ``descriptors`` of each unique
    molecule. :func:`write_sampled` writes the rows as CSV."""
    from . import chem

    s, canon = res["samples"], res["canonical"]
    valid = [c for c in canon if c]
    unique = list(dict.fromkeys(valid))
    novel = [c for c in unique if c not in known] if known is not None else None
    desc = {c: chem.descriptors(c) for c in unique}
    rows, seen = [], set()
    for k, (raw, c, nll) in enumerate(zip(s.smiles, canon, s.nll)):
        d = desc.get(c) or {}
        rows.append({"index": k + 1, "smiles": raw, "canonical": c or "", "valid": c is not None,
                     "duplicate": c is not None and c in seen,
                     "novel": None if known is None else bool(c) and c not in known,
                     "logP": d.get("logP", float("nan")), "TPSA": d.get("TPSA", float("nan")), "nll": float(nll)})
        seen.add(c)
    n = len(canon)
    metrics = {"validity": len(valid) / n if n else 0.0, "uniqueness": len(unique) / len(valid) if valid else 0.0,
               "novelty": None if novel is None else len(novel) / len(unique) if unique else 0.0,
               "valid": len(valid), "unique": len(unique), "novel": None if novel is None else len(novel),
               "unfinished": res["unfinished"]}
    return {"rows": rows, "metrics": metrics, "descriptors": desc, "n": n}


def write_sampled(fh, rows: list[dict]) -> None:
    """:func:`sampled_table`'s rows as CSV (:data:`SAMPLED_COLUMNS`) to an open text file."""
    import csv

    w = csv.writer(fh, lineterminator="\n")
    w.writerow(SAMPLED_COLUMNS)
    for r in rows:
        w.writerow([r["index"], r["smiles"], r["canonical"], int(r["valid"]), _fmt(r["logP"]), _fmt(r["TPSA"]),
                    f"{r['nll']:.4f}"])


def _fmt(x: float) -> str:
    """A value as the command line writes it (``%.6g``; empty where there is none)."""
    return "" if x is None or x != x or x in (float("inf"), float("-inf")) else f"{x:.6g}"
