"""Training data bigger than memory: token-id batches streamed from sharded (optionally gzipped) SMILES files.

Data bigger than memory: nothing of the data is held in memory but a shuffle buffer and one pool of
batches per stream, so a run's memory does not grow with the data (``benchmarks/bench_scale.py`` measures it).

- **Shards** (:func:`expand_shards`): a glob (``'shards/*.smi.gz'``), a directory (its ``.smi``/``.smi.gz``/
  ``.txt``/``.txt.gz`` files) or one file; sorted by name. One SMILES per line (a name after whitespace is
  ignored, a header line ``smiles`` and blank lines are skipped). The lines are taken as they are: canonicalize
  and de-duplicate the shards beforehand (``chemrnn data prepare`` each); a molecule longer than ``max_tokens`` or
  with a token outside the vocabulary is skipped and counted (:func:`encoder`, :func:`skipped_in_streams`).
- **Validation** (:func:`holdout_size`, :func:`holdout_lines`): the first lines of the first shard, as many as
  asked but at most a tenth of the data, are held out and never streamed.
- **Streams** (:func:`stream_lines`): training reads ``R = ranks × workers`` disjoint streams that together cover
  every line once an epoch. With at least ``R`` shards, stream ``k`` reads the shards ``k, k + R, …``; with
  fewer, every stream reads every shard and keeps the lines whose ``(line number + shard number) % R == k``.
- **Order** (:func:`stream_batches`): each stream's epoch shuffles its shard order, then a rolling shuffle buffer
  (``buffer`` molecules) mixes the lines, then pools of ``batch_size × 64`` are cut into length buckets (as
  :class:`~chemrnn.batching.BucketBatchSampler`) in random order. Everything is seeded by ``(seed, epoch, k)``;
  the stream runs epoch after epoch without end (training stops at ``max_steps``), so DDP ranks never run dry.
- **Position**: a stream is a deterministic sequence of batches, so its position is the number of batches it has
  delivered; ``stream_batches(..., skip=n)`` replays the first ``n`` without yielding them (reading and
  tokenizing, no training). :func:`delivered` derives each stream's count from the training step, since a
  DataLoader takes its workers' batches round-robin.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import InputError
from .io import iter_lines

SHARD_SUFFIXES = (".smi", ".smi.gz", ".txt", ".txt.gz", ".smiles", ".smiles.gz")
POOL = 64  # batches per length-sorted pool, as BucketBatchSampler


def is_sharded(spec: str) -> bool:
    """True for a glob pattern or a directory: data that is streamed, not prepared into memory."""
    return any(c in spec for c in "*?[") or Path(spec).is_dir()


def expand_shards(spec: str | os.PathLike) -> list[Path]:
    """The shard files of a glob, a directory or a single file, sorted; :class:`InputError` when there is none."""
    spec = str(spec)
    p = Path(spec)
    if p.is_dir():
        files = [f for f in p.iterdir() if f.is_file() and f.name.lower().endswith(SHARD_SUFFIXES)]
        if not files:
            raise InputError(f"no SMILES shards ({', '.join(SHARD_SUFFIXES)}) in this directory", p)
    elif any(c in spec for c in "*?["):
        files = [Path(f) for f in glob.glob(spec) if Path(f).is_file()]
        if not files:
            raise InputError("no file matches this pattern", spec)
    elif p.is_file():
        files = [p]
    else:
        raise InputError("no such file, directory or pattern", spec)
    for f in files:
        if f.name.lower().endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
            raise InputError("streamed shards are SMILES files, one per line (.smi[.gz]), not tables", f)
    return sorted(files, key=str)


def _smiles_of(text: str) -> str:
    """The SMILES of a line (its first field); '' for a blank line or a header."""
    s = text.split(None, 1)[0] if text.strip() else ""
    return "" if s.lower() == "smiles" else s


def read_shard(path: Path, start: int = 0, keep=None) -> Iterator[tuple[int, str]]:
    """``(line number, SMILES)`` of a shard's non-blank lines (numbered from 1) after line ``start``; ``keep``
    filters on the line number."""
    for n, text, _ in iter_lines(path, on_bad_line="skip"):
        if n <= start or (keep is not None and not keep(n)):
            continue
        s = _smiles_of(text)
        if s:
            yield n, s


def stream_lines(files: Sequence[Path], k: int, streams: int, epoch: int = 0, seed: int = 0,
                 holdout: int = 0) -> Iterator[str]:
    """The SMILES of stream ``k`` of ``streams`` for one epoch, shards in a seeded order (see the module
    docstring); the first ``holdout`` lines of the first shard (the validation split) are never streamed."""
    if not 0 <= k < streams:
        raise ValueError(f"stream {k} is not in 0..{streams - 1}")
    numbered = list(enumerate(files))
    by_file = len(files) >= streams
    mine = numbered[k::streams] if by_file else numbered
    order = np.random.default_rng([seed, epoch, k, 1]).permutation(len(mine))
    for i in order:
        f_no, path = mine[int(i)]
        keep = None if by_file else (lambda n, f=f_no: (n + f) % streams == k)
        for _, s in read_shard(path, holdout if f_no == 0 else 0, keep):
            yield s


def shuffled(items: Iterator, size: int, rng: np.random.Generator) -> Iterator:
    """A rolling shuffle buffer of ``size`` items: each new item takes the place of a random one, which is
    yielded; the rest come out in random order at the end."""
    buf: list = []
    for x in items:
        if len(buf) < size:
            buf.append(x)
            continue
        j = int(rng.integers(size))
        buf[j], x = x, buf[j]
        yield x
    for j in rng.permutation(len(buf)):
        yield buf[int(j)]


def encoder(tokenizer, vocabulary, max_tokens: int, tally: dict | None = None):
    """SMILES → token ids with <bos>/<eos> (a uint8/int32 array), or None for a molecule longer than
    ``max_tokens`` or with a token outside ``vocabulary`` (skipped). ``tally`` (a dict) counts the molecules read
    and those skipped, by reason (``read``, ``too_long``, ``unspellable``)."""
    index = vocabulary.index
    dtype = np.uint8 if len(vocabulary) <= 256 else np.int32
    bos, eos = vocabulary.bos_id, vocabulary.eos_id
    count = tally if tally is not None else {}
    for key in ("read", "too_long", "unspellable"):
        count.setdefault(key, 0)

    def encode(smiles: str):
        count["read"] += 1
        toks = tokenizer.tokenize(smiles)
        if len(toks) > max_tokens:
            count["too_long"] += 1
            return None
        try:
            return np.array([bos, *(index[t] for t in toks), eos], dtype=dtype)
        except KeyError:
            count["unspellable"] += 1
            return None

    return encode


def write_tally(path: Path, tally: dict, epoch_done: bool) -> None:
    """A stream's counts of its first epoch so far (:func:`encoder`'s ``tally``), written atomically."""
    import json

    from .io import atomic_write

    with atomic_write(path) as fh:
        json.dump({**tally, "epoch_done": epoch_done}, fh)


def skipped_in_streams(folder: Path, streams: int) -> dict | None:
    """The first-epoch counts of the ``streams`` streams found in ``folder`` summed: molecules read, skipped too
    long, skipped with a token outside the vocabulary, how many streams reported (on several machines without a
    shared run folder, only this one's), and whether all of them finished their first epoch (None when none
    reported)."""
    import json

    files = sorted(Path(folder).glob("stream-*.json"))
    if not files:
        return None
    parts = [json.loads(f.read_text()) for f in files]
    return {"streams": streams, "streams_reported": len(parts),
            **{k: sum(p[k] for p in parts) for k in ("read", "too_long", "unspellable")},
            "first_epoch_done": len(parts) == streams and all(p["epoch_done"] for p in parts)}


def stream_batches(files: Sequence[Path], k: int, streams: int, encode, batch_size: int, seed: int = 0,
                   buffer: int = 10_000, skip: int = 0, holdout: int = 0,
                   report=None) -> Iterator[list[np.ndarray]]:
    """Batches (lists of id arrays) of stream ``k``, epoch after epoch without end, after replaying the first
    ``skip`` batches (see the module docstring); :class:`InputError` when the stream has no usable molecule.
    ``report(epoch_done)`` is called at each pool during the first epoch and once at its end (e.g. to write what
    ``encode`` counted)."""
    delivered = 0
    epoch = 0
    while True:
        rng = np.random.default_rng([seed, epoch, k, 2])
        got = 0
        pool: list[np.ndarray] = []
        mols = (ids for ids in map(encode, shuffled(stream_lines(files, k, streams, epoch, seed, holdout), buffer,
                                                     rng)) if ids is not None)
        for ids in mols:
            pool.append(ids)
            if len(pool) == batch_size * POOL:
                if report is not None and epoch == 0:
                    report(False)
                for b in _buckets(pool, batch_size, rng):
                    if delivered >= skip:
                        yield b
                    delivered += 1
                    got += 1
                pool = []
        if report is not None and epoch == 0:
            report(True)
        for b in _buckets(pool, batch_size, rng) if pool else []:
            if delivered >= skip:
                yield b
            delivered += 1
            got += 1
        if not got:  # a rank that ran dry would leave the others waiting for it: say so instead
            raise InputError(f"stream {k} of {streams} (ranks × workers) has no usable molecule: too few lines "
                             f"for so many streams, or every one too long or unspellable", files[0])
        epoch += 1


def _buckets(pool: list[np.ndarray], batch_size: int, rng: np.random.Generator) -> list[list[np.ndarray]]:
    """The pool sorted by length, cut into batches, in random order."""
    order = sorted(range(len(pool)), key=lambda i: len(pool[i]))
    batches = [[pool[i] for i in order[b: b + batch_size]] for b in range(0, len(order), batch_size)]
    return [batches[int(j)] for j in rng.permutation(len(batches))]


def delivered(step: int, workers: int) -> list[int]:
    """Batches each of a rank's ``workers`` streams has delivered after ``step`` training steps: a DataLoader
    takes batch ``i`` from worker ``i % workers`` (in order; the streams never end)."""
    w = max(1, workers)
    return [max(0, -(-(step - q) // w)) for q in range(w)]


def scan_vocabulary(files: Sequence[Path], tokenizer, lines: int = 100_000, extra: Sequence[str] = ()):
    """A vocabulary from the first ``lines`` lines, taken evenly from every shard (and ``extra`` SMILES, e.g. the
    validation set). Returns ``(vocabulary, molecules scanned)``."""
    from itertools import islice

    from .tokens import Vocabulary

    per = max(1, lines // max(1, len(files)))
    smiles = [s for f in files for _, s in islice(read_shard(f), per)] + list(extra)
    if not smiles:
        raise InputError("the shards hold no SMILES", files[0] if files else None)
    return Vocabulary.build(tokenizer.tokenize(s) for s in smiles), len(smiles)


def holdout_size(files: Sequence[Path], n: int, least: int = 20) -> tuple[int, int]:
    """How many lines of the first shard a streamed run holds out for validation: ``n``, but at most a tenth of
    the data (at least one), and none when the data has fewer than ``least`` lines, as a prepared run's split.
    Lines are counted (first shard first) only up to ``10 * n`` (``least`` if more), so large shards are not read
    through. Returns ``(lines to hold out, lines counted)``."""
    from itertools import islice

    if n <= 0:
        return 0, 0
    cap = max(10 * n, least)
    counted = 0
    for f in files:
        counted += sum(1 for _ in islice(read_shard(f), cap - counted))
        if counted >= cap:
            break
    if counted < least:
        return 0, counted
    return min(n, max(1, counted // 10)), counted


def holdout_lines(files: Sequence[Path], n: int) -> tuple[list[str], int]:
    """The SMILES of the first non-blank lines of the first shard, up to ``n`` molecules (the validation split
    of a streamed run), and the line number they end at (streams start after it)."""
    out, last = [], 0
    if n <= 0:
        return out, 0
    for line, s in read_shard(files[0]):
        out.append(s)
        last = line
        if len(out) >= n:
            break
    return out, last
