"""Token caches, length buckets, collation and padding masks.

A dataset is never padded as a whole: :class:`TokenCache` keeps all sequences in one flat array with
offsets (about one byte a token), and :class:`BucketBatchSampler` groups sequences of similar length so each
batch is padded only to its own longest member. ``padding_fraction`` measures what that costs.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .errors import InputError, UnknownTokenError
from .io import atomic_write
from .tokens import Tokenizer, Vocabulary


@dataclass
class TokenCache:
    """Encoded sequences (each with <bos> ... <eos>) stored flat: sequence i is ``ids[offsets[i]:offsets[i+1]]``."""

    ids: np.ndarray
    offsets: np.ndarray
    vocabulary: Vocabulary
    tokenizer: str

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i]: self.offsets[i + 1]]

    def save(self, path: str | os.PathLike) -> None:
        """Save as .npz (no pickled objects; the vocabulary is a JSON string)."""
        meta = json.dumps({"format": "chemrnn-token-cache", "schema": 1, "tokenizer": self.tokenizer,
                           "vocabulary": self.vocabulary.to_dict()})
        with atomic_write(path, "wb") as fh:
            np.savez(fh, ids=self.ids, offsets=self.offsets, meta=np.array(meta))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TokenCache":
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                ids, offsets = z["ids"], z["offsets"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"not a chemrnn token cache ({exc})", path) from None
        if meta.get("format") != "chemrnn-token-cache" or int(meta.get("schema", 0)) > 1:
            raise InputError("not a chemrnn token cache of a schema this version reads (1)", path)
        return cls(ids, offsets, Vocabulary.from_dict(meta["vocabulary"]), meta["tokenizer"])


def encode_all(smiles: Iterable[str], tokenizer: Tokenizer, vocabulary: Vocabulary | None = None,
               unknown: str = "error", source: object = None) -> TokenCache:
    """Tokenize and encode every SMILES into a :class:`TokenCache` in one streaming pass.

    Tokens get provisional ids as they are first seen (a dict lookup at C speed, no per-token Python loop),
    then one table lookup maps them to the final vocabulary. With no ``vocabulary`` one is built from the
    data. Otherwise every unknown token of the whole input is reported at once, up front
    (:class:`UnknownTokenError`), unless ``unknown='unk'`` maps them to <unk>.
    """
    from array import array
    from collections import defaultdict

    provisional: defaultdict = defaultdict()
    provisional.default_factory = provisional.__len__  # unseen token -> next free id
    lookup = provisional.__getitem__
    flat = array("i")
    lengths = array("q")
    texts = []  # kept only to find an example of each unknown token
    keep_texts = unknown == "error" and vocabulary is not None
    for s in smiles:
        toks = tokenizer.tokenize(s)
        flat.extend(map(lookup, toks))
        lengths.append(len(toks))
        if keep_texts:
            texts.append(s)
    seen = list(provisional)  # provisional id -> token
    if vocabulary is None:
        vocabulary = Vocabulary.build([seen])
    missing = [t for t in seen if t not in vocabulary]
    if missing and unknown == "error":
        counts = np.bincount(np.frombuffer(flat, dtype=np.int32), minlength=len(seen))
        bad = {t: int(counts[provisional[t]]) for t in missing}
        examples = {}
        for s in texts:
            for t in tokenizer.tokenize(s):
                if t in bad and t not in examples:
                    examples[t] = s
            if len(examples) == len(bad):
                break
        raise UnknownTokenError(bad, examples, path=source)
    table = np.array([vocabulary.index.get(t, vocabulary.unk_id) for t in seen] or [0], dtype=np.int32)
    dtype = np.uint8 if len(vocabulary) <= 256 else np.int32
    body = table[np.frombuffer(flat, dtype=np.int32)] if len(flat) else np.zeros(0, dtype=np.int32)
    n = len(lengths)
    lens = np.frombuffer(lengths, dtype=np.int64) + 2 if n else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    ids = np.empty(int(offsets[-1]), dtype=dtype)
    # scatter the bodies between <bos> at offsets[i] and <eos> at offsets[i+1]-1
    ids[offsets[:-1]] = vocabulary.bos_id
    ids[offsets[1:] - 1] = vocabulary.eos_id
    body_pos = np.ones(int(offsets[-1]), dtype=bool)
    body_pos[offsets[:-1]] = False
    body_pos[offsets[1:] - 1] = False
    ids[body_pos] = body
    return TokenCache(ids, offsets, vocabulary, tokenizer.name)


class BucketBatchSampler:
    """Batches of indices whose sequences have similar lengths.

    Each epoch: shuffle all indices (seeded), cut them into pools of ``batch_size * pool`` sequences, sort
    each pool by length, cut it into batches, then shuffle the batch order. Batches stay random while
    padding stays low. An iterable of index lists, usable as a PyTorch ``batch_sampler``.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 pool: int = 64, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool = pool
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[np.ndarray]:
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        pool = self.batch_size * self.pool
        out = []
        for start in range(0, n, pool):
            chunk = order[start: start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            for b in range(0, len(chunk), self.batch_size):
                batch = chunk[b: b + self.batch_size]
                if self.drop_last and len(batch) < self.batch_size:
                    continue
                out.append(batch)
        if self.shuffle:
            perm = rng.permutation(len(out))
            out = [out[i] for i in perm]
        return out

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.batches():
            yield b.tolist()

    def __len__(self) -> int:
        n = len(self.lengths)
        pool = self.batch_size * self.pool
        full, rest = divmod(n, pool)
        per_pool = pool // self.batch_size
        if self.drop_last:
            return full * per_pool + rest // self.batch_size
        return full * per_pool + -(-rest // self.batch_size)


def padding_fraction(lengths: Sequence[int], batches: Iterable[Sequence[int]]) -> float:
    """Fraction of the padded tensor cells that are padding: 1 - sum(len) / sum(batch_size * max_len)."""
    lengths = np.asarray(lengths)
    useful = total = 0
    for b in batches:
        ls = lengths[np.asarray(b)]
        useful += int(ls.sum())
        total += int(ls.max()) * len(ls)
    return 1.0 - useful / total if total else 0.0


def collate(sequences: Sequence[np.ndarray], pad_id: int = 0):
    """Pad a list of id arrays into a LongTensor ``[batch, max_len]`` and return it with the lengths."""
    import torch

    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    out = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = torch.from_numpy(np.asarray(s, dtype=np.int64))
    return out, lengths


def padding_mask(lengths, max_len: int | None = None):
    """Boolean mask ``[batch, max_len]``, True at real (non-pad) positions."""
    import torch

    lengths = torch.as_tensor(lengths)
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def by_length(fn, id_arrays: Sequence[np.ndarray], width: int, pad_id: int, batch_size: int = 256) -> np.ndarray:
    """``fn(ids, lengths)`` over length-sorted batches of token-id arrays (little padding); rows ``[n, width]``
    in input order. Runs under ``torch.inference_mode``; the caller picks the precision context."""
    import torch

    out = np.zeros((len(id_arrays), width), dtype=np.float64)
    order = np.argsort([len(a) for a in id_arrays], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            out[idx] = fn(*collate([id_arrays[i] for i in idx], pad_id)).double().cpu().numpy()
    return out


def spelled_ids(canonical: list[str], n: int, seed: int, tokenizer, vocabulary) -> list[np.ndarray]:
    """Token ids of ``1 + n`` spellings of each molecule, molecule by molecule (:func:`chemrnn.chem.spellings`):
    its canonical SMILES, then ``n`` randomized ones. A random spelling can write a token the vocabulary lacks
    (a stereo centre as ``@@`` where the canonical form has ``@``, a higher ring-closure digit); such a spelling is
    replaced by the canonical one, so no random spelling is read as ``<unk>``. Test-time augmentation in training
    and in :meth:`chemrnn.predict.PropertyPredictor.predict` both use this."""
    from .chem import spellings  # RDKit, only when spellings are asked for

    out = []
    for c in canonical:
        base = np.array(vocabulary.encode(tokenizer.tokenize(c), unknown="unk"))
        out.append(base)
        for s in spellings(c, n, seed)[1:]:
            tokens = tokenizer.tokenize(s)
            out.append(np.array(vocabulary.encode(tokens)) if all(t in vocabulary for t in tokens) else base)
    return out


def encode_file(input, output, *, column: str | None = None, tokenizer: str = "atom", vocabulary=None,
                unknown: str = "error", batch_size: int = 128, seed: int = 0, skip_bad_lines: bool = False,
                progress=None) -> dict:
    """``chemrnn data encode``: read a SMILES file (or dataset), tokenize and encode it (:func:`encode_all`) into a
    training cache at ``output``, and measure the padding fraction of batches of ``batch_size`` with and without
    length buckets. ``vocabulary``: a vocabulary JSON to encode with (default: built from the input). Returns the
    counts, the two padding fractions and the seconds. ``progress(message, done, total)``."""
    import time

    from .datasets import resolve_input, smiles_column
    from .io import check_writable, read_rows
    from .tokens import get_tokenizer

    say = progress or (lambda message, done=None, total=None: None)
    check_writable(output, "file")
    t0 = time.perf_counter()
    path = resolve_input(input)
    vocab = Vocabulary.load(vocabulary) if vocabulary else None
    message = f"reading {path.name}"
    say(message)
    smiles, unreadable = [], 0
    for row in read_rows(path, column or smiles_column(input), on_bad_line="skip" if skip_bad_lines else "error"):
        unreadable += bool(row.error)
        if row.smiles:
            smiles.append(row.smiles)
            if len(smiles) % 50_000 == 0:
                say(message, len(smiles))
    if not smiles:
        raise InputError(f"no SMILES to encode ({unreadable:,} unreadable lines, the rest blank)", path)
    say(f"encoding {len(smiles):,} SMILES ({tokenizer} tokens)")
    cache = encode_all(smiles, get_tokenizer(tokenizer), vocab, unknown=unknown, source=path)
    t1 = time.perf_counter()
    say("measuring padding")
    bucketed = BucketBatchSampler(cache.lengths, batch_size, seed=seed)
    plain = BucketBatchSampler(cache.lengths, batch_size, seed=seed, pool=1)
    padding = {"bucketed": padding_fraction(cache.lengths, bucketed.batches()),
               "unbucketed": padding_fraction(cache.lengths, plain.batches())}
    say(f"writing {Path(output).name}")
    cache.save(output)
    return {"sequences": len(cache), "tokens": len(cache.ids), "vocabulary": len(cache.vocabulary),
            "unreadable": unreadable, "padding": padding, "encode_seconds": t1 - t0,
            "seconds": time.perf_counter() - t0}
