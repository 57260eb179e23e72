"""Training on Lightning: the language-model module, its data, checkpoints and resume.

``train_language_model`` is what ``chemrnn lm train`` and ``chemrnn lm finetune`` call. A run directory holds
``config.json`` (everything needed to rerun, with versions, hardware and the data hash), ``log.csv`` (learning
curve), ``checkpoints/last.ckpt`` (Lightning's resume state; rerunning the same command after a crash or
``kill -9`` resumes from it), ``metrics.json`` and ``model/`` (safetensors + JSON, the file users share).
Batches come from length buckets; in a resumed run the batch order continues where it stopped.
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from ..batching import BucketBatchSampler, TokenCache, collate
from ..errors import InputError
from ..utils import resolve_device, seed_everything
from . import quiet_lightning

PRESETS = {
    # Segler et al. 2018: 3 stacked LSTM layers of 1024 units, dropout 0.2, batch 128
    "segler2018": {"cell": "lstm", "embedding_dim": 128, "hidden_size": 1024, "num_layers": 3, "dropout": 0.2,
                   "batch_size": 128, "lr": 1e-3},
    # sized for a 2-core CPU: ~3 h for 30k steps (≈2.4 epochs of MOSES) on an AVX-512 EPYC with bf16 autocast
    "cpu": {"cell": "lstm", "embedding_dim": 64, "hidden_size": 512, "num_layers": 3, "dropout": 0.0,
            "batch_size": 128, "lr": 2e-3, "precision": "bf16-mixed", "max_steps": 30_000, "val_every": 2000},
    # for tests and smoke runs
    "tiny": {"cell": "lstm", "embedding_dim": 16, "hidden_size": 32, "num_layers": 1, "dropout": 0.0,
             "batch_size": 32, "lr": 3e-3},
}


@dataclass
class LMTrainConfig:
    data: str = "sample"
    valid: str | None = None
    val_size: int = 5000
    tokenizer: str = "atom"
    preset: str = "cpu"
    cell: str = "lstm"
    impl: str = "fused"
    embedding_dim: int = 64
    hidden_size: int = 384
    num_layers: int = 2
    dropout: float = 0.1
    batch_size: int = 128
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 200
    max_steps: int = 10_000
    max_minutes: float | None = None
    clip: float = 1.0
    val_every: int = 1000
    checkpoint_every: int = 250
    n_samples: int = 128
    seed: int = 0
    device: str = "auto"
    precision: str = "32-true"
    max_tokens: int = 120
    init_from: str | None = None  # fine-tuning: start from this model's weights and vocabulary
    unknown: str = "error"  # tokens outside the prior's vocabulary: error | skip

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> "LMTrainConfig":
        if preset not in PRESETS:
            raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        known = {f.name for f in fields(cls)}
        values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
        bad = set(values) - known
        if bad:
            raise InputError(f"unknown training options: {', '.join(sorted(bad))}")
        return cls(preset=preset, **values)

    def to_dict(self) -> dict:
        return asdict(self)


# options that may differ when a run is resumed (they do not change what the checkpoint means)
RESUMABLE_CHANGES = {"max_steps", "max_minutes", "device", "precision", "checkpoint_every", "val_every", "n_samples"}


class TokenDataset(torch.utils.data.Dataset):
    def __init__(self, cache: TokenCache):
        self.cache = cache

    def __len__(self):
        return len(self.cache)

    def __getitem__(self, i):
        return self.cache[i]


class ResumableBuckets(BucketBatchSampler):
    """Length buckets that can start part-way into an epoch (after a resume) and shard across DDP ranks."""

    def __init__(self, lengths, batch_size, seed=0, skip: int = 0, rank: int = 0, world: int = 1):
        super().__init__(lengths, batch_size, shuffle=True, seed=seed)
        self.skip, self.rank, self.world = skip, rank, world

    def __iter__(self):
        batches = self.batches()[self.skip * self.world:]
        for k, b in enumerate(batches):
            if k % self.world == self.rank:
                yield b.tolist()

    def __len__(self):
        return max(0, (super().__len__() - self.skip * self.world) // self.world)


def make_module(model, vocabulary, tokenizer, cfg: LMTrainConfig, train_cache: TokenCache,
                valid_cache: TokenCache | None, run_dir: Path):
    """The LightningModule (built lazily so that importing chemrnn does not import Lightning)."""
    L = quiet_lightning()
    from .. import chem
    from ..sample import sample
    from ..tokens import get_tokenizer

    tok = get_tokenizer(tokenizer)

    class LMModule(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model
            self._t_last = None
            self._tokens = 0
            self._val = [0.0, 0.0]

        def train_dataloader(self):
            per_epoch = len(BucketBatchSampler(train_cache.lengths, cfg.batch_size))
            world = max(1, self.trainer.world_size)
            step = self.trainer.global_step
            epoch, skip = divmod(step, max(1, per_epoch // world))
            sampler = ResumableBuckets(train_cache.lengths, cfg.batch_size, cfg.seed, skip=skip,
                                       rank=self.trainer.global_rank, world=world)
            sampler.set_epoch(epoch)
            return torch.utils.data.DataLoader(TokenDataset(train_cache), batch_sampler=sampler,
                                               collate_fn=lambda seqs: collate(seqs, vocabulary.pad_id)[0])

        def val_dataloader(self):
            if valid_cache is None:
                return []
            sampler = BucketBatchSampler(valid_cache.lengths, 256, shuffle=False)
            return torch.utils.data.DataLoader(TokenDataset(valid_cache), batch_sampler=sampler,
                                               collate_fn=lambda seqs: collate(seqs, vocabulary.pad_id)[0])

        def training_step(self, ids, _):
            loss = self.model.loss(ids)
            self._tokens += int((ids[:, 1:] != vocabulary.pad_id).sum())
            self.log("train_loss", loss, prog_bar=True, on_step=True)
            return loss

        def on_train_batch_end(self, *args):
            now = time.perf_counter()
            if self._t_last is not None and self.trainer.global_step % 50 == 0:
                rate = self._tokens / (now - self._t_last)
                self.log("tokens_per_s", rate, prog_bar=True)
                self._t_last, self._tokens = now, 0
            elif self._t_last is None:
                self._t_last, self._tokens = now, 0

        def validation_step(self, ids, _):
            nll = self.model.token_nll(ids)
            mask = ids[:, 1:] != vocabulary.pad_id
            self._val[0] += float(nll[mask].sum())
            self._val[1] += float(mask.sum())

        def on_validation_epoch_end(self):
            if self._val[1]:
                self.log("val_nll", self._val[0] / self._val[1], prog_bar=True)
            self._val = [0.0, 0.0]
            if cfg.n_samples and not self.trainer.sanity_checking:
                s = sample(self.model, vocabulary, tok, cfg.n_samples, batch_size=cfg.n_samples,
                           max_length=cfg.max_tokens + 20, seed=cfg.seed + self.trainer.global_step,
                           device=str(self.device))
                valid = [x for x in s.smiles if chem.is_valid(x)]
                self.log("validity", len(valid) / len(s.smiles), prog_bar=True)
                self.model.train()
                if self.trainer.is_global_zero:
                    examples = ", ".join(valid[:3])
                    print(f"\n[step {self.trainer.global_step}] sampled validity {len(valid)}/{len(s.smiles)}; "
                          f"e.g. {examples}", flush=True)

        def configure_optimizers(self):
            opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)

            def schedule(step):  # linear warm-up, then cosine decay to min_lr_ratio at max_steps
                if step < cfg.warmup_steps:
                    return (step + 1) / cfg.warmup_steps
                t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
                return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return LMModule()


class CsvLog:
    """A Lightning callback that appends the learning curve to ``log.csv`` (kept across resumes)."""

    FIELDS = ["step", "epoch", "train_loss", "lr", "tokens_per_s", "val_nll", "validity", "elapsed_s"]

    def __new__(cls, path: Path, started: float, every: int = 50):
        L = quiet_lightning()

        class _Cb(L.Callback):
            def __init__(self):
                self.path, self.every = path, every
                self.t0 = started

            def _write(self, trainer, extra=None):
                m = {k: float(v) for k, v in trainer.callback_metrics.items()}
                row = {"step": trainer.global_step, "epoch": trainer.current_epoch,
                       "train_loss": m.get("train_loss"), "tokens_per_s": m.get("tokens_per_s"),
                       "lr": trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None,
                       "val_nll": None, "validity": None, "elapsed_s": round(time.perf_counter() - self.t0, 1)}
                row.update(extra or {})
                new = not self.path.exists()
                with open(self.path, "a", newline="") as fh:
                    w = csv.DictWriter(fh, fieldnames=CsvLog.FIELDS)
                    if new:
                        w.writeheader()
                    w.writerow(row)

            def on_train_batch_end(self, trainer, *args):
                if trainer.is_global_zero and trainer.global_step % self.every == 0:
                    self._write(trainer)

            def on_validation_end(self, trainer, *args):
                if trainer.is_global_zero and not trainer.sanity_checking:
                    m = {k: float(v) for k, v in trainer.callback_metrics.items()}
                    self._write(trainer, {"val_nll": m.get("val_nll"), "validity": m.get("validity")})

        return _Cb()


def _encode_file(path: Path, tokenizer: str, vocabulary, max_tokens: int, run_data: Path, name: str,
                 unknown: str = "error") -> TokenCache:
    """Prepare (canonicalize, dedupe, account) a SMILES file into the run directory and encode it."""
    from ..batching import encode_all
    from ..io import load_smiles_list
    from ..prepare import PrepareOptions, prepare
    from ..tokens import get_tokenizer

    if path.suffix == ".npz":
        return TokenCache.load(path)
    out = run_data / f"{name}.smi"
    if not out.exists():
        summary = prepare(path, out, PrepareOptions(max_tokens=max_tokens, tokenizer=tokenizer))
        print(f"{name}: {summary.kept:,} kept of {summary.lines:,} lines ({summary.duplicates:,} duplicates, "
              f"{summary.rejected:,} rejected → {summary.rejects})", flush=True)
    smiles = load_smiles_list(out)
    if not smiles:
        raise InputError("no usable SMILES after preparation", path)
    tok = get_tokenizer(tokenizer)
    if unknown == "skip" and vocabulary is not None:  # drop (and report) molecules the vocabulary cannot spell
        from ..io import write_rejects

        keep, rejects = [], []
        for k, s in enumerate(smiles, 1):
            bad = sorted({t for t in tok.tokenize(s) if t not in vocabulary})
            if bad:
                rejects.append((k, f"tokens not in the model's vocabulary: {' '.join(bad)}", s))
            else:
                keep.append(s)
        if rejects:
            write_rejects(run_data / f"{name}.vocabulary_rejects.csv", rejects)
            print(f"{name}: skipped {len(rejects):,} molecules with tokens outside the vocabulary "
                  f"(→ {run_data / (name + '.vocabulary_rejects.csv')})", flush=True)
        smiles = keep
        if not smiles:
            raise InputError("no molecule can be spelled with the model's vocabulary", path)
        unknown = "error"
    return encode_all(smiles, tok, vocabulary, unknown=unknown, source=path)


def _split_valid(cache: TokenCache, n: int, seed: int) -> tuple[TokenCache, TokenCache]:
    """Hold out ``n`` random sequences of ``cache`` for validation."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(cache))
    n = min(n, max(1, len(cache) // 10))
    return _subset(cache, np.sort(idx[n:])), _subset(cache, np.sort(idx[:n]))


def _subset(cache: TokenCache, idx: np.ndarray) -> TokenCache:
    lengths = cache.lengths[idx]
    offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate([cache[i] for i in idx]) if len(idx) else cache.ids[:0]
    return TokenCache(ids, offsets, cache.vocabulary, cache.tokenizer)


def train_language_model(cfg: LMTrainConfig, run_dir: str | os.PathLike, restart: bool = False,
                         progress: bool = True, data_path: Path | None = None) -> dict:
    """Train (or resume) a language model in ``run_dir``; returns the final metrics."""
    from ..datasets import resolve_input
    from ..io import atomic_write
    from ..models.language import LanguageModel, LMConfig, load_language_model, save_language_model
    from ..runinfo import hardware, record, versions

    L = quiet_lightning()
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if ckpt.exists() and not restart:
        saved = {**LMTrainConfig().to_dict(), **json.loads((run_dir / "config.json").read_text())["config"]}
        diff = sorted(k for k in set(saved) | set(cfg.to_dict())
                      if saved.get(k) != cfg.to_dict().get(k) and k not in RESUMABLE_CHANGES)
        if diff:
            raise InputError(f"{run_dir} holds a run with other settings ({', '.join(diff)}); resume it with the same "
                             f"options, or pass --restart to start over")
        print(f"resuming from {ckpt}", flush=True)
    else:
        ckpt = None
        if restart and (run_dir / "checkpoints").exists():
            import shutil

            shutil.rmtree(run_dir / "checkpoints")
        (run_dir / "log.csv").unlink(missing_ok=True)  # a fresh run starts a fresh learning curve
    seed_everything(cfg.seed)
    data_path = data_path or resolve_input(cfg.data)
    record(run_dir, cfg.to_dict(), data_path)
    run_data = run_dir / "data"
    run_data.mkdir(parents=True, exist_ok=True)

    base_vocab = None
    if cfg.init_from:
        prior, base_vocab, prior_tok, _ = load_language_model(cfg.init_from, impl=cfg.impl)
        if prior_tok != cfg.tokenizer:
            raise InputError(f"the prior uses the {prior_tok} tokenizer, not {cfg.tokenizer}", cfg.init_from)
    train_cache = _encode_file(data_path, cfg.tokenizer, base_vocab, cfg.max_tokens, run_data, "train",
                               unknown=cfg.unknown)
    vocabulary = train_cache.vocabulary
    if cfg.valid:
        valid_cache = _encode_file(resolve_input(cfg.valid), cfg.tokenizer, vocabulary, cfg.max_tokens, run_data,
                                   "valid", unknown="skip")
    elif cfg.val_size > 0 and len(train_cache) >= 20:
        train_cache, valid_cache = _split_valid(train_cache, cfg.val_size, cfg.seed)
    else:
        valid_cache = None
    print(f"train {len(train_cache):,} molecules ({int(train_cache.lengths.sum()):,} tokens), "
          f"valid {len(valid_cache) if valid_cache else 0:,}; vocabulary {len(vocabulary)}", flush=True)

    if cfg.init_from:
        model = prior
        model.train()
    else:
        model = LanguageModel(LMConfig(len(vocabulary), cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
                                       cfg.dropout, cfg.cell, cfg.impl, vocabulary.pad_id))
    module = make_module(model, vocabulary, cfg.tokenizer, cfg, train_cache, valid_cache, run_dir)
    started = time.perf_counter()
    callbacks = [
        L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0,
                                            every_n_train_steps=cfg.checkpoint_every),
        CsvLog(run_dir / "log.csv", started),
    ]
    if progress:
        callbacks.append(L.pytorch.callbacks.TQDMProgressBar(refresh_rate=20))
    accel = resolve_device(cfg.device)
    trainer = L.Trainer(
        accelerator=accel, devices="auto" if accel != "cpu" else 1, precision=cfg.precision,
        max_steps=cfg.max_steps, max_epochs=-1,
        max_time={"minutes": cfg.max_minutes} if cfg.max_minutes else None,
        gradient_clip_val=cfg.clip,
        check_val_every_n_epoch=None, log_every_n_steps=50,
        callbacks=callbacks, logger=False, enable_progress_bar=progress, enable_model_summary=False,
        num_sanity_val_steps=0, use_distributed_sampler=False, reload_dataloaders_every_n_epochs=1,
        default_root_dir=str(run_dir), deterministic=False,
        **({"val_check_interval": min(cfg.val_every, max(1, len(train_cache) // cfg.batch_size))}
           if valid_cache is not None else {"limit_val_batches": 0}),
    )
    trainer.fit(module, ckpt_path=str(ckpt) if ckpt else None)
    seconds = time.perf_counter() - started
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metrics.update({"steps": trainer.global_step, "seconds_this_session": round(seconds, 1)})
    training = {"seed": cfg.seed, "data": str(data_path), "data_sha256": _sha(data_path), "steps": trainer.global_step,
                "preset": cfg.preset, "config": cfg.to_dict(), "versions": versions(), "hardware": hardware(),
                "metrics": metrics, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    model.eval()
    save_language_model(run_dir / "model", model, vocabulary, cfg.tokenizer, training)
    with atomic_write(run_dir / "metrics.json") as fh:
        json.dump(metrics, fh, indent=1)
    return metrics


def _sha(path: Path) -> str | None:
    from ..io import sha256_of

    return sha256_of(path) if Path(path).is_file() else None
