"""The language model's data on Lightning: :class:`LMDataModule` and the resumable, per-rank length buckets.

``prepare_data`` runs once (on global rank 0 under DDP): it canonicalizes, de-duplicates and accounts the SMILES
file into ``RUN/data/train.smi`` (rejects beside it) and encodes it into ``RUN/data/train.npz`` (likewise
``valid``). ``setup`` runs on every rank: it loads those caches and holds out the validation split. The batches
come from :class:`ResumableBuckets`: length buckets that restart part-way into an epoch from the restored global
step (a resumed run continues the uninterrupted run's batch order); each global batch is split across the DDP
ranks, so N processes with ``batch_size`` each train on the batches of one process with ``N * batch_size``.
Validation batches are sharded over the ranks too.
"""
from __future__ import annotations

import json
import random
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..batching import BucketBatchSampler, TokenCache, collate
from ..errors import InputError
from ..io import atomic_write, count_rows, load_smiles_list, write_rejects
from ._log import quiet_lightning, say

L = quiet_lightning()


class TokenDataset(torch.utils.data.Dataset):
    """Sequence ``i`` of a :class:`TokenCache` (token ids with <bos> ... <eos>)."""

    def __init__(self, cache: TokenCache):
        self.cache = cache

    def __len__(self):
        return len(self.cache)

    def __getitem__(self, i):
        return self.cache[i]


def collate_ids(seqs, pad_id: int = 0):
    """A padded ``[batch, time]`` LongTensor of token ids."""
    return collate(seqs, pad_id)[0]


def deal_evenly(batches: list, world: int) -> list:
    """The batches, with the largest split in two until their number is a multiple of ``world``: every rank then
    gets as many batches (DDP needs that) and every index still comes exactly once (no padding, no dropping)."""
    out = list(batches)
    while len(out) % world:
        k = max(range(len(out)), key=lambda i: len(out[i]))
        if len(out[k]) < 2:  # fewer sequences than ranks: nothing left to split
            break
        half = len(out[k]) // 2
        out[k: k + 1] = [out[k][:half], out[k][half:]]
    return out


class ResumableBuckets(BucketBatchSampler):
    """Length buckets for one DDP rank that can start part-way into an epoch (after a resume).

    ``batch_size`` is per rank (Lightning's convention): an epoch's *global* batches are
    :meth:`BucketBatchSampler.batches` of ``batch_size * world`` sequences (seeded by ``seed`` and the epoch), and
    rank ``rank`` takes every ``world``-th sequence of each (``b[rank::world]``, so the ranks' lengths stay alike).
    The ranks together thus train, step for step, on exactly the batches one process with the whole global batch
    would (2 processes with half the batch each give the same weights as 1 process with the full batch); every
    rank gets as many batches (DDP needs that) and every index comes exactly once. A last global
    batch with fewer sequences than ranks is merged into its neighbour. The rank yields its share after the first
    ``skip`` batches, which it trained on before the checkpoint. ``len`` is the whole share, skipped batches
    included: Lightning counts them as done when it resumes mid-epoch, so the epoch ends where the uninterrupted
    one did.
    """

    def __init__(self, lengths, batch_size, seed=0, skip: int = 0, rank: int = 0, world: int = 1):
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in 0..{world - 1}")
        if len(lengths) < world:
            raise InputError(f"{len(lengths)} training molecule(s) cannot be shared by {world} processes")
        super().__init__(lengths, batch_size * world, shuffle=True, seed=seed)
        self.skip, self.rank, self.world = skip, rank, world

    def global_batches(self) -> list[np.ndarray]:
        """The epoch's batches over all ranks (a short last one merged into its neighbour)."""
        out = self.batches()
        short = [k for k, b in enumerate(out) if len(b) < self.world]
        if short and len(out) > 1:
            k = short[0]
            j = k - 1 if k else 1
            merged = np.concatenate([out[min(j, k)], out[max(j, k)]])
            out[min(j, k): max(j, k) + 1] = [merged]
        return out

    def share(self) -> list[np.ndarray]:
        """This rank's batches of the epoch, skipped ones included."""
        return [b[self.rank:: self.world] for b in self.global_batches()]

    def __iter__(self):
        for b in self.share()[self.skip:]:
            yield b.tolist()

    def __len__(self):
        n, tail = super().__len__(), len(self.lengths) % self.batch_size
        return n - 1 if 0 < tail < self.world and n > 1 else n


def shard_batches(batches: list, rank: int, world: int) -> list:
    """Evaluation batches for one rank: :func:`deal_evenly` and every ``world``-th batch; when there are fewer
    batches than ranks, every rank takes them all (sums reduced over the ranks keep their ratios)."""
    if world == 1:
        return batches
    dealt = deal_evenly(batches, world)
    return dealt[rank::world] if len(dealt) >= world else dealt


def encode_file(path: Path, tokenizer: str, vocabulary, max_tokens: int, run_data: Path, name: str,
                unknown: str = "error", verbose: bool = True) -> TokenCache:
    """Prepare (canonicalize, de-duplicate, account) a SMILES file into ``run_data/<name>.smi`` and encode it; a
    ``.npz`` token cache is taken as it is. ``unknown="skip"`` drops (and reports) the molecules that
    ``vocabulary`` cannot spell; ``unknown="extend"`` appends their tokens to it (:meth:`Vocabulary.extended`)."""
    from ..batching import encode_all
    from ..prepare import PrepareOptions, prepare
    from ..tokens import get_tokenizer

    if path.suffix == ".npz":
        return TokenCache.load(path)
    out = run_data / f"{name}.smi"
    summary = prepare(path, out, PrepareOptions(max_tokens=max_tokens, tokenizer=tokenizer))
    if not summary.kept:  # the run leaves nothing behind, so the reasons go into the message
        why = ", ".join(f"{n:,} {reason}" for reason, n in sorted(summary.reasons.items(), key=lambda kv: -kv[1]))
        raise InputError(f"no usable SMILES after preparation ({summary.lines:,} lines: {why or 'none'})", path)
    say(f"{name}: {summary.kept:,} kept of {summary.lines:,} lines ({summary.duplicates:,} duplicates, "
        f"{summary.rejected:,} rejected → {summary.rejects})", verbose)
    smiles = load_smiles_list(out)
    tok = get_tokenizer(tokenizer)
    if unknown == "extend" and vocabulary is not None:
        vocabulary, added = vocabulary.extended(tok.tokenize(s) for s in smiles)
        if added:
            say(f"{name}: {len(added)} tokens added to the prior's vocabulary: {' '.join(added)}", verbose)
        unknown = "error"
    if unknown == "skip" and vocabulary is not None:
        smiles = _spellable(smiles, tok, vocabulary, run_data / f"{name}.vocabulary_rejects.csv", name, verbose)
        if not smiles:
            raise InputError("no molecule can be spelled with the model's vocabulary", path)
        unknown = "error"
    return encode_all(smiles, tok, vocabulary, unknown=unknown, source=path)


def _spellable(smiles: list[str], tok, vocabulary, rejects_path: Path, name: str, verbose: bool) -> list[str]:
    """The molecules whose tokens are all in ``vocabulary``; the others go to ``rejects_path`` with a reason."""
    keep, rejects = [], []
    for k, s in enumerate(smiles, 1):
        bad = sorted({t for t in tok.tokenize(s) if t not in vocabulary})
        if bad:
            rejects.append((k, f"tokens not in the model's vocabulary: {' '.join(bad)}", s))
        else:
            keep.append(s)
    if rejects:
        write_rejects(rejects_path, rejects)
        say(f"{name}: skipped {len(rejects):,} molecules with tokens outside the vocabulary (→ {rejects_path})",
            verbose)
    return keep


def _described(path: str) -> str:
    """A data file for a message: its path and, where it can be counted quickly, its rows."""
    rows = count_rows(path)
    return f"{path} ({rows:,} rows)" if rows is not None else str(path)


def split_valid(cache: TokenCache, n: int, seed: int) -> tuple[TokenCache, TokenCache]:
    """Hold out ``n`` random sequences of ``cache`` for validation, at most a tenth of it (at least one)."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(cache))
    n = min(n, max(1, len(cache) // 10))
    return subset(cache, np.sort(idx[n:])), subset(cache, np.sort(idx[:n]))


def augment(cache: TokenCache, n: int, max_tokens: int, seed: int) -> tuple[TokenCache, int]:
    """``cache`` followed by ``n`` randomized SMILES of each of its molecules, the ones its vocabulary can spell
    within ``max_tokens`` (the others are counted, returned second, and left out).

    Randomized SMILES (Bjerrum 2017; Arús-Pous et al. 2019) as the augmentation of fine-tuning on a few actives
    (Moret et al. 2020, "Generative molecular design in low data regimes"): the model sees every active written
    from several starting atoms, so it learns the molecule rather than one spelling of it.
    """
    from ..batching import encode_all
    from ..chem import randomized
    from ..tokens import get_tokenizer

    tok, vocab = get_tokenizer(cache.tokenizer), cache.vocabulary
    rng = random.Random(seed)
    variants, dropped = [], 0
    for i in range(len(cache)):
        smiles = tok.detokenize(vocab.decode(cache[i]))
        for v in randomized(smiles, n, seed=rng.randrange(2**31)):
            try:
                tokens = tok.tokenize(v)
            except ValueError:  # e.g. a spelling SELFIES cannot encode
                tokens = None
            if tokens is not None and len(tokens) <= max_tokens and all(t in vocab for t in tokens):
                variants.append(v)
            else:
                dropped += 1
    if not variants:
        return cache, dropped
    extra = encode_all(variants, tok, vocab)
    offsets = np.concatenate([cache.offsets, cache.offsets[-1] + extra.offsets[1:]])
    ids = np.concatenate([cache.ids, extra.ids.astype(cache.ids.dtype)])
    return TokenCache(ids, offsets, vocab, cache.tokenizer), dropped


def subset(cache: TokenCache, idx: np.ndarray) -> TokenCache:
    """The sequences ``idx`` of ``cache`` as a new cache."""
    lengths = cache.lengths[idx]
    offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate([cache[i] for i in idx]) if len(idx) else cache.ids[:0]
    return TokenCache(ids, offsets, cache.vocabulary, cache.tokenizer)


MIN_TO_HOLD_OUT = 20  # with fewer training molecules, no validation split is held out
VOCAB_SCAN = 100_000  # lines read (evenly from every shard) to build a streamed run's vocabulary


class StreamedBatches(torch.utils.data.IterableDataset):
    """Padded token-id batches of one rank's streams (:func:`chemrnn.streaming.stream_batches`): DataLoader worker
    ``w`` serves stream ``rank * streams_per_rank + slots[w]`` after replaying ``skips[w]`` batches. Worker ``w``
    may serve another slot than ``w`` after a resume: batch ``i`` of the run always comes from slot
    ``i % workers``, so a resumed run reads the batches of the uninterrupted one, in the same order."""

    def __init__(self, files, rank: int, world: int, slots: list[int], skips: list[int], tokenizer: str, vocabulary,
                 max_tokens: int, batch_size: int, seed: int, buffer: int, holdout: int, tally_dir: Path | None = None):
        super().__init__()
        self.files, self.rank, self.world, self.slots, self.skips = files, rank, world, slots, skips
        self.tokenizer, self.vocabulary, self.max_tokens = tokenizer, vocabulary, max_tokens
        self.batch_size, self.seed, self.buffer, self.holdout = batch_size, seed, buffer, holdout
        self.tally_dir = tally_dir  # each stream's first-epoch counts of skipped molecules go there

    def __iter__(self):
        from ..streaming import encoder, stream_batches, write_tally
        from ..tokens import get_tokenizer

        info = torch.utils.data.get_worker_info()
        w = info.id if info is not None else 0
        per_rank = len(self.slots)
        k = self.rank * per_rank + self.slots[w]
        tally: dict = {}
        encode = encoder(get_tokenizer(self.tokenizer), self.vocabulary, self.max_tokens, tally)
        report = None
        if self.tally_dir is not None:
            self.tally_dir.mkdir(parents=True, exist_ok=True)
            path = self.tally_dir / f"stream-{k:05d}.json"
            report = lambda done: write_tally(path, tally, done)  # noqa: E731
        for batch in stream_batches(self.files, k, self.world * per_rank, encode, self.batch_size, self.seed,
                                    self.buffer, self.skips[w], self.holdout, report):
            yield collate_ids(batch, self.vocabulary.pad_id)


class LMDataModule(L.LightningDataModule):
    """Prepare once, load on every rank, serve resumable per-rank buckets (see the module docstring).

    ``data``/``valid``: SMILES files (or ``.npz`` token caches); ``init_from``: a prior whose vocabulary the data
    must use (fine-tuning), with ``unknown="skip"`` dropping molecules it cannot spell. ``sizes`` holds what was
    actually trained and validated on (also written into ``RUN/config.json``).
    """

    def __init__(self, data: str, run_dir: str, tokenizer: str = "atom", max_tokens: int = 120,
                 batch_size: int = 128, val_size: int = 5000, valid: str | None = None, seed: int = 0,
                 unknown: str = "error", init_from: str | None = None, verbose: bool = True,
                 streaming: bool = False, workers: int = 1, buffer: int = 10_000, augment: int = 0):
        super().__init__()
        self.save_hyperparameters(ignore=["verbose"])
        self.prepare_data_per_node = False  # the run directory is shared: prepare on global rank 0 only
        self.verbose = verbose
        self.train_cache: TokenCache | None = None
        self.valid_cache: TokenCache | None = None
        self.stream: dict | None = None  # a streamed run's shards, vocabulary and held-out lines
        self.position: dict | None = None  # restored from a checkpoint
        self.sizes: dict = {}
        self._prepared = False  # in this process (Lightning asks again for the final validation)

    @property
    def run_data(self) -> Path:
        return Path(self.hparams.run_dir) / "data"

    def prepare_data(self):
        """Prepare the data, or say that an earlier sitting of the run did; once a process."""
        if not self._prepared:
            self._prepare()
            self._prepared = True

    def _prepare(self) -> None:
        h = self.hparams
        if h.streaming:
            return self._prepare_stream()
        if not ((self.run_data / "train.npz").exists() and (not h.valid or (self.run_data / "valid.npz").exists())):
            self._prepare_files()
        else:  # prepared by an earlier sitting of this run
            say(f"using the training data prepared by an earlier sitting of this run, cached in "
                f"{self.run_data / 'train.npz'}", self.verbose, err=True)
        if h.augment and not (self.run_data / "train_augmented.npz").exists():
            train, _ = self._split()
            augmented, dropped = augment(train, h.augment, h.max_tokens, h.seed)
            augmented.save(self.run_data / "train_augmented.npz")
            say(f"augmented: {len(augmented) - len(train):,} randomized SMILES added to {len(train):,} molecules "
                f"({dropped:,} left out: a token outside the vocabulary, or too long)", self.verbose)

    def _split(self) -> tuple[TokenCache, TokenCache | None]:
        """The training molecules and the validation set: ``valid``'s file, or held out of the training data."""
        h = self.hparams
        train = TokenCache.load(self.run_data / "train.npz")
        valid = TokenCache.load(self.run_data / "valid.npz") if h.valid else None
        if valid is None and h.val_size > 0 and len(train) >= MIN_TO_HOLD_OUT:
            train, valid = split_valid(train, h.val_size, h.seed)
        return train, valid

    def _prepare_files(self) -> None:
        """Prepare ``data`` (and ``valid``) into the run's token caches, saying before and after: for a large set
        (MOSES train, 1.58 M molecules) it takes minutes before the first step."""
        import time

        h = self.hparams
        self.run_data.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        slow = Path(h.data).suffix != ".npz"  # a token cache is taken as it is
        if slow:
            what = _described(h.data) + (f" and the validation file {_described(h.valid)}" if h.valid else "")
            say(f"preparing {what}: canonical SMILES, de-duplication, tokens → {self.run_data / 'train.npz'} "
                f"(kept for resuming this run)", self.verbose, err=True)
        base = None
        if h.init_from:
            from ..models.language import load_language_model

            base = load_language_model(h.init_from)[1]
        train = encode_file(Path(h.data), h.tokenizer, base, h.max_tokens, self.run_data, "train", h.unknown,
                            self.verbose)
        if h.valid:  # written first: train.npz marks a finished preparation
            encode_file(Path(h.valid), h.tokenizer, train.vocabulary, h.max_tokens, self.run_data, "valid", "skip",
                        self.verbose).save(self.run_data / "valid.npz")
        train.save(self.run_data / "train.npz")
        if slow:
            say(f"prepared in {time.perf_counter() - started:,.1f} s: {len(train):,} molecules cached at "
                f"{self.run_data / 'train.npz'}", self.verbose, err=True)

    def _prepare_stream(self):
        """A streamed run's preparation: the shard list, the validation set (``valid``, or the first ``val_size``
        lines of the first shard, at most a tenth of the data, which the streams then skip) and the vocabulary (the
        prior's, or scanned from :data:`VOCAB_SCAN` lines) into ``RUN/data/stream.json`` and
        ``RUN/data/valid.npz``."""
        from ..batching import encode_all
        from ..streaming import encoder, expand_shards, holdout_lines, holdout_size, scan_vocabulary
        from ..tokens import get_tokenizer

        h = self.hparams
        if (self.run_data / "stream.json").exists():
            return  # prepared by an earlier sitting of this run
        self.run_data.mkdir(parents=True, exist_ok=True)
        files = expand_shards(h.data)
        tok = get_tokenizer(h.tokenizer)
        size, counted = holdout_size(files, 0 if h.valid else h.val_size, MIN_TO_HOLD_OUT)
        held, holdout = holdout_lines(files, size)
        valid = load_smiles_list(h.valid) if h.valid else held
        if h.init_from:
            from ..models.language import load_language_model

            vocab, scanned = load_language_model(h.init_from)[1], 0
        else:
            vocab, scanned = scan_vocabulary(files, tok, VOCAB_SCAN, valid)
        if valid:
            encode = encoder(tok, vocab, h.max_tokens)
            kept = [s for s in valid if encode(s) is not None]
            if kept:
                encode_all(kept, tok, vocab).save(self.run_data / "valid.npz")
        info = {"files": [str(f) for f in files], "bytes": sum(f.stat().st_size for f in files),
                "holdout_lines": holdout, "holdout": {"file": str(files[0]), "molecules": len(held), "size": size,
                                                      "lines_counted": counted},
                "vocabulary": vocab.to_dict(), "tokenizer": h.tokenizer, "vocabulary_scanned": scanned,
                "valid_read": len(valid)}
        with atomic_write(self.run_data / "stream.json") as fh:  # written last: marks a finished preparation
            json.dump(info, fh, indent=1)
        say(f"streaming {len(files):,} shards ({info['bytes'] / 1e6:,.1f} MB); vocabulary {len(vocab)} "
            f"(from {scanned:,} molecules)", self.verbose)

    def _setup_stream(self):
        from ..tokens import Vocabulary

        h = self.hparams
        self.stream = json.loads((self.run_data / "stream.json").read_text())
        self.stream["vocabulary"] = Vocabulary.from_dict(self.stream["vocabulary"])
        path = self.run_data / "valid.npz"
        self.valid_cache = TokenCache.load(path) if path.exists() and (h.valid or h.val_size) else None
        self.sizes = {"train": None, "streamed_shards": len(self.stream["files"]),
                      "valid": len(self.valid_cache) if self.valid_cache is not None else 0,
                      "valid_from": "file" if h.valid else held_out_of_stream(self.stream),
                      "val_size_requested": None if h.valid else h.val_size}
        if self.trainer is None or self.trainer.is_global_zero:
            self._tell_stream_valid()
            note_in_config(Path(h.run_dir), "sizes", self.sizes)

    def _tell_stream_valid(self) -> None:
        """How many molecules a streamed run validates on, and where they come from (never trained on)."""
        h, n_valid = self.hparams, self.sizes["valid"]
        held = {} if h.valid else self.stream.get("holdout", {})
        source = f"of {h.valid}" if h.valid else f"held out of training: {self.sizes['valid_from']}"
        said = f"validation: {n_valid:,} molecules {source}"
        taken = held.get("molecules", self.stream.get("valid_read", n_valid))
        if taken > n_valid:
            said += f" ({taken - n_valid:,} of those too long or with a token outside the vocabulary, left out)"
        if held and taken < h.val_size:
            why = (f"fewer than {MIN_TO_HOLD_OUT} lines of data" if not held["size"] else
                   "that is the whole first shard" if taken < held["size"] else
                   f"at most a tenth of the data ({held['lines_counted']:,} lines)")
            said += f"; not the {h.val_size:,} asked: {why}"
        say(said, self.verbose)

    def setup(self, stage: str | None = None):
        if self.train_cache is not None or self.stream is not None:
            return
        h = self.hparams
        if h.streaming:
            return self._setup_stream()
        train, valid = self._split()
        molecules = len(train)
        if h.augment:  # made after the split (no spelling of a validation molecule is trained on), once, on rank 0
            train = TokenCache.load(self.run_data / "train_augmented.npz")
        self.train_cache, self.valid_cache = train, valid
        self.sizes = {"train": len(train), "valid": len(valid) if valid is not None else 0,
                      **({"train_molecules": molecules, "augment": h.augment,
                          "augment_dropped": molecules * (1 + h.augment) - len(train)} if h.augment else {}),
                      "valid_from": "file" if h.valid else "held out of the training data",
                      "val_size_requested": None if h.valid else h.val_size}
        if self.trainer is None or self.trainer.is_global_zero:
            self._tell_sizes()
            note_in_config(Path(h.run_dir), "sizes", self.sizes)

    def _tell_sizes(self) -> None:
        train, valid, asked = self.train_cache, self.valid_cache, self.hparams.val_size
        n_valid = len(valid) if valid is not None else 0
        what = (f"{len(train):,} SMILES ({self.sizes['train_molecules']:,} molecules and their randomized SMILES)"
                if self.hparams.augment else f"{len(train):,} molecules")
        say(f"train {what} ({int(train.lengths.sum()):,} tokens), valid {n_valid:,}; "
            f"vocabulary {len(self.vocabulary)}", self.verbose)
        if not self.hparams.valid and asked > n_valid:
            why = (f"fewer than {MIN_TO_HOLD_OUT} molecules" if n_valid == 0 else "at most a tenth of the data")
            say(f"validation: {n_valid:,} molecules held out, not the {asked:,} asked ({why})", self.verbose)

    @property
    def vocabulary(self):
        return self.stream["vocabulary"] if self.stream is not None else self.train_cache.vocabulary

    def world(self) -> int:
        return max(1, self.trainer.world_size) if self.trainer is not None else 1

    def rank(self) -> int:
        return self.trainer.global_rank if self.trainer is not None else 0

    def steps_per_epoch(self) -> int:
        """Optimizer steps (batches per rank) in one epoch over the training split (0 when streamed: unknown)."""
        if self.hparams.streaming:
            return 0
        return len(ResumableBuckets(self.train_cache.lengths, self.hparams.batch_size, world=self.world()))

    def train_dataloader(self):
        if self.hparams.streaming:
            return self._stream_loader()
        per = self.steps_per_epoch()
        epoch, skip = divmod(self.trainer.global_step if self.trainer is not None else 0, per)
        sampler = ResumableBuckets(self.train_cache.lengths, self.hparams.batch_size, self.hparams.seed, skip=skip,
                                   rank=self.rank(), world=self.world())
        sampler.set_epoch(epoch)
        return self._loader(self.train_cache, sampler)

    def val_dataloader(self):
        """The validation batches, sharded over the ranks (:func:`shard_batches`; the module sums the NLL and
        the token count over the ranks)."""
        if self.valid_cache is None:
            return []
        batches = BucketBatchSampler(self.valid_cache.lengths, 256, shuffle=False).batches()
        return self._loader(self.valid_cache, [b.tolist() for b in shard_batches(batches, self.rank(),
                                                                                  self.world())])

    def streams_per_rank(self) -> int:
        return max(1, self.hparams.workers)

    def _step(self) -> int:
        return self.trainer.global_step if self.trainer is not None else 0

    def _stream_loader(self):
        """The streamed batches from the position of the restored step (:func:`chemrnn.streaming.delivered`)."""
        from ..streaming import delivered

        h, n = self.hparams, self.streams_per_rank()
        step = self.position["step"] if self.position else self._step()
        done = delivered(step, n)
        slots = [(w + step) % n for w in range(n)]
        data = StreamedBatches([Path(f) for f in self.stream["files"]], self.rank(), self.world(), slots,
                               [done[q] for q in slots], h.tokenizer, self.vocabulary, h.max_tokens, h.batch_size,
                               h.seed, h.buffer, self.stream["holdout_lines"], self.run_data / "streams")
        self.position = None
        return torch.utils.data.DataLoader(data, batch_size=None, num_workers=h.workers,
                                           prefetch_factor=4 if h.workers else None, pin_memory=self._on_cuda())

    def state_dict(self) -> dict:
        """A streamed run's position in the checkpoint: the step, and the batches each stream has delivered."""
        if not self.hparams.streaming:
            return {}
        from ..streaming import delivered

        step = self._step()
        return {"step": step, "world": self.world(), "workers": self.hparams.workers,
                "delivered_per_stream": delivered(step, self.streams_per_rank())}

    def load_state_dict(self, state: dict) -> None:
        if not self.hparams.streaming or not state:
            return
        if (state.get("world"), state.get("workers")) != (self.world(), self.hparams.workers):
            raise InputError(f"the checkpoint streamed with {state.get('world')} processes × {state.get('workers')} "
                             f"workers, not {self.world()} × {self.hparams.workers}: resume with the same, or "
                             f"--restart")
        self.position = state

    def _loader(self, cache: TokenCache, sampler):
        # a generator of its own: making the iterator draws a seed from it, not from the global RNG (which the
        # checkpoint restores for dropout)
        return torch.utils.data.DataLoader(TokenDataset(cache), batch_sampler=sampler,
                                           collate_fn=partial(collate_ids, pad_id=cache.vocabulary.pad_id),
                                           generator=torch.Generator().manual_seed(self.hparams.seed),
                                           pin_memory=self._on_cuda())

    def _on_cuda(self) -> bool:
        """Batches go to a GPU: collate into pinned memory, so the copy to the device runs asynchronously (Lightning
        moves batches with ``non_blocking=True``) while the GPU works on the previous step."""
        trainer = getattr(self, "trainer", None)
        return bool(trainer is not None and trainer.strategy.root_device.type == "cuda")


def held_out_of_stream(stream: dict) -> str:
    """Where a streamed run's validation molecules come from, as its ``stream.json`` records it."""
    held = stream.get("holdout")
    if held is None:  # prepared before the record said more
        return f"the first lines of the first shard (up to line {stream['holdout_lines']:,})"
    if not held["molecules"]:
        return "none"
    return f"the first {held['molecules']:,} SMILES of {held['file']} (lines 1-{stream['holdout_lines']:,})"


def note_in_config(run_dir: Path, key: str, value) -> None:
    """Add ``key: value`` to ``run_dir/config.json`` (atomically), e.g. the sizes actually trained on."""
    path = run_dir / "config.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    info[key] = value
    with atomic_write(path) as fh:
        json.dump(info, fh, indent=1, default=str)
