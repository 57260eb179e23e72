"""Training language models on Lightning: the config, :class:`LMModule`, fine-tuning's config, and the run.

``train_language_model`` is what ``chemrnn lm train`` and ``chemrnn lm finetune`` (through
``api.finetune``) call. A run directory holds ``config.json`` (everything needed to rerun, with versions,
hardware, the data hash and the sizes actually trained and validated on), ``log.csv`` (learning curve, one file
across sittings), ``checkpoints/last.ckpt`` (Lightning's resume state; rerunning the same command after a crash
or ``kill -9`` resumes from it, and a resumed run matches the uninterrupted one), ``metrics.json`` (the final
step's values: a last validation runs when the last step was not one) and ``model/`` (safetensors + JSON, the
file users share). One process at a time may train in a run directory (:mod:`.lock`), and a bad setting or a
missing input is refused before anything is written.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from ..datasets import resolve_input, resolve_model, smiles_column
from ..errors import InputError
from ..io import atomic_write, load_smiles_list, sha256_of
from ..options import CELLS, DEVICES, FINETUNE_UNKNOWN, IMPLS, PRECISIONS, STRATEGIES, TOKENIZERS
from ..runinfo import hardware, record, versions
from ..utils import seed_everything
from ..validate import choice, flag, integer, number, optional, positive, problems, refuse, setting, text
from . import checks
from ._log import quiet_lightning, say, warn
from .callbacks import BestWeights, CsvLog, EpochCheckpoint, RngState, Timing, progress_bar
from .common import global_batch_mean, make_lightning_trainer, warmup_cosine
from .data import LMDataModule
from .lock import is_launched_rank, run_lock

L = quiet_lightning()

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
    """Settings of a language-model run; checked when made (bad values refused with the valid ones) and with
    ``precision`` resolved to Lightning's name (``auto``/``32``/``bf16`` accepted, see
    :func:`.checks.resolve_precision`).

    The run is ``max_steps`` optimizer steps, or ``epochs`` epochs over the training split actually kept (then
    ``max_steps``, if also set, caps it). ``None`` for ``warmup_steps`` is a tenth of the run (at most 50),
    for ``val_every`` and ``checkpoint_every`` once an epoch. ``max_minutes`` caps the time over all sittings;
    the cosine schedule then runs on whichever of steps and time is further along."""

    data: str = setting(text(words="a file or dataset name"), "sample")
    valid: str | None = setting(optional(text()), None)
    val_size: int = setting(integer(0), 5000)
    tokenizer: str = setting(choice(TOKENIZERS), "atom")
    preset: str = "cpu"  # the preset the values came from (a record: the values themselves are checked)
    cell: str = setting(choice(CELLS), "lstm")
    impl: str = setting(choice(IMPLS), "fused")
    embedding_dim: int = setting(integer(1), 64)
    hidden_size: int = setting(integer(1), 384)
    num_layers: int = setting(integer(1), 2)
    dropout: float = setting(number(0, 1, high_open=True), 0.1)
    batch_size: int = setting(integer(1), 128)
    lr: float = setting(positive(), 2e-3)
    min_lr_ratio: float = setting(number(0, 1), 0.05)
    warmup_steps: int | None = setting(optional(integer(0)), 200)
    max_steps: int | None = setting(optional(integer(1)), 10_000)
    epochs: int | None = setting(optional(integer(1)), None)
    max_minutes: float | None = setting(optional(positive()), None)
    clip: float = setting(positive(), 1.0)
    val_every: int | None = setting(optional(integer(1)), 1000)
    checkpoint_every: int | None = setting(optional(integer(1)), 250)
    n_samples: int = setting(integer(0), 128)
    seed: int = setting(integer(0), 0)
    device: str = setting(choice(DEVICES), "auto")
    precision: str = setting(choice(PRECISIONS), "32-true")
    max_tokens: int = setting(integer(1), 120)
    # fine-tuning: start from this model's weights and vocabulary
    init_from: str | None = setting(optional(text(words="a model file or shipped name")), None)
    # tokens outside the prior's vocabulary: error | skip | extend (appended to it)
    unknown: str = setting(choice(FINETUNE_UNKNOWN), "error")
    # processes per node (DDP); None: 1 on CPU, every GPU on a GPU machine
    devices: int | None = setting(optional(integer(1)), None)
    num_nodes: int = setting(integer(1), 1)
    strategy: str = setting(choice(STRATEGIES), "auto")  # auto (ddp when there is more than one process) | ddp
    # stream shards, not prepare the data in memory; None: for a glob or directory
    streaming: bool | None = setting(optional(flag()), None)
    workers: int = setting(integer(0), 1)  # streamed runs: DataLoader worker processes per rank (each its own stream)
    shuffle_buffer: int = setting(integer(1), 10_000)  # streamed runs: molecules in each stream's shuffle buffer
    # also train on this many randomized SMILES of each training molecule (an epoch covers all)
    augment: int = setting(integer(0), 0)
    keep_best: bool = setting(flag(), False)  # save the weights of the best validation NLL, not the last step's
    # stop after this many validations without a better NLL (None: never early)
    patience: int | None = setting(optional(integer(1)), None)

    def __post_init__(self):
        from ..streaming import is_sharded

        if self.streaming is None:
            self.streaming = isinstance(self.data, str) and is_sharded(self.data)
        self.validate()
        self.precision = checks.resolve_precision(self.precision, self.device)

    def validate(self) -> None:
        """Refuse every bad value at once (:class:`InputError`, exit 2), naming the valid ones."""
        found = (
            problems(self)
            + ([] if self.max_steps or self.epochs else ["set max_steps or epochs"])
            + ([] if not self.streaming or not self.augment else ["a streamed run cannot augment: set augment = 0"])
            + ([] if not self.streaming or not self.epochs else
               ["a streamed run has no known epoch: set max_steps, not epochs"])
            + ([] if not self.streaming or (self.val_every and self.checkpoint_every) else
               ["a streamed run validates and checkpoints every so many steps: set val_every and checkpoint_every"])
            + ([] if not self.patience or self.keep_best else
               ["patience stops at the best validation epoch, which only keep_best keeps: set keep_best = true or "
                "leave patience out"]))
        refuse(found, "training option")

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
RESUMABLE_CHANGES = {"max_steps", "epochs", "max_minutes", "device", "precision", "checkpoint_every", "val_every",
                     "n_samples", "strategy", "patience"}


def build_model(cfg: LMTrainConfig, vocabulary):
    """The network to train: the prior's (``init_from``, weights and all) or a new one sized by ``cfg``."""
    from ..models.language import LanguageModel, LMConfig, load_language_model

    if cfg.init_from:
        model = load_language_model(cfg.init_from, impl=cfg.impl)[0]
        if len(vocabulary) > model.config.vocab_size:  # unknown = "extend": the prior's ids come first
            model.grow_vocabulary(len(vocabulary))
        return model.train()
    return LanguageModel(LMConfig(len(vocabulary), cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, cfg.dropout,
                                  cfg.cell, cfg.impl, vocabulary.pad_id))


class LMModule(L.LightningModule):
    """Teacher forcing on a :class:`~chemrnn.models.language.LanguageModel`, with validation NLL per token and
    the validity of sampled molecules (Segler's column).

    ``config`` is :meth:`LMTrainConfig.to_dict` (saved as the hyperparameters); ``model`` is built in
    :meth:`configure_model` from the datamodule's vocabulary when not given, so that under DDP the data is
    prepared (once, on rank 0) before the network is sized. ``time_fraction`` is set by the
    :class:`~.callbacks.Timing` callback when the run has a time budget.
    """

    def __init__(self, config: dict, model=None, verbose: bool = True):
        super().__init__()
        self.save_hyperparameters(ignore=["model", "verbose"])
        self.cfg = LMTrainConfig(**config)
        self.model = model
        self.verbose = verbose
        self.time_fraction = 0.0
        self.first_step: int | None = None  # the global step this sitting started from
        self.last_val_step: int | None = None
        self.total_steps = self.warmup = 0
        self._val = [0.0, 0.0]
        self._t_last, self._tokens = None, 0

    @property
    def vocabulary(self):
        return self.trainer.datamodule.vocabulary

    def setup(self, stage: str):
        if stage == "fit":
            self.total_steps = self._total_steps()
            self.trainer.fit_loop.epoch_loop.max_steps = self.total_steps

    def _total_steps(self) -> int:
        if not self.cfg.epochs:
            return self.cfg.max_steps
        steps = self.cfg.epochs * self.trainer.datamodule.steps_per_epoch()
        return min(steps, self.cfg.max_steps) if self.cfg.max_steps else steps

    def configure_model(self):
        if self.model is None:
            self.model = build_model(self.cfg, self.vocabulary)

    def on_train_start(self):
        self.first_step = self.trainer.global_step

    def training_step(self, ids, _):
        world = self.trainer.world_size if self._trainer is not None else 1
        if world == 1:
            loss = self.model.loss(ids)
            self._tokens = self._tokens + (ids[:, 1:] != self.model.config.pad_id).sum()  # on the device: no sync
            self.log("train_loss", loss, prog_bar=True, on_step=True)
            return loss
        return self._global_batch_loss(ids, world)

    def _global_batch_loss(self, ids, world: int):
        """Under DDP: the mean NLL per token of the *global* batch (all ranks' tokens), as one process with the
        whole batch computes it. DDP averages the ranks' gradients, so each rank returns its NLL sum times
        ``world`` over the global token count (one all-reduce of two numbers a step); the logged loss and the
        token rate are the global batch's."""
        nll = self.model.token_nll(ids)
        loss, mean, tokens = global_batch_mean(self.trainer.strategy, nll.sum(),
                                               (ids[:, 1:] != self.model.config.pad_id).sum(), world)
        self._tokens = self._tokens + tokens
        self.log("train_loss", mean, prog_bar=True, on_step=True)
        return loss

    def on_train_batch_end(self, *args):
        now = time.perf_counter()
        if self._t_last is not None and self.trainer.global_step % 50 == 0:
            self.log("tokens_per_s", float(self._tokens) / (now - self._t_last), prog_bar=True)  # a sync per 50
            self._t_last, self._tokens = now, 0
        elif self._t_last is None:
            self._t_last, self._tokens = now, 0

    def validation_step(self, ids, _):
        nll = self.model.token_nll(ids)
        mask = ids[:, 1:] != self.model.config.pad_id
        self._val[0] += float(nll[mask].sum())
        self._val[1] += float(mask.sum())

    def on_validation_epoch_end(self):
        total = self._val
        if self.trainer.world_size > 1:  # each rank validated a shard: sum the NLL and tokens over the ranks
            total = self.trainer.strategy.reduce(torch.tensor(self._val, dtype=torch.float64, device=self.device),
                                                 reduce_op="sum").tolist()
        if total[1]:
            self.log("val_nll", total[0] / total[1], prog_bar=True, sync_dist=True)  # the same on every rank
        self._val = [0.0, 0.0]
        if self.trainer.sanity_checking:
            return
        self.last_val_step = self.trainer.global_step
        if self.cfg.n_samples:
            self._sampled_validity()

    def _sampled_validity(self) -> None:
        from .. import chem
        from ..sample import sample
        from ..tokens import get_tokenizer

        n = self.cfg.n_samples
        s = sample(self.model, self.vocabulary, get_tokenizer(self.cfg.tokenizer), n, batch_size=n,
                   max_length=self.cfg.max_tokens + 20,
                   seed=self.cfg.seed + self.trainer.global_step + 7919 * self.trainer.global_rank,
                   device=str(self.device))  # each rank samples its own molecules; validity is their mean
        valid = [x for x in s.smiles if chem.is_valid(x)]
        self.log("validity", len(valid) / len(s.smiles), prog_bar=True, sync_dist=True)
        self.model.train(self.trainer.training)
        if self.trainer.is_global_zero:
            say(f"\n[step {self.trainer.global_step}] sampled validity {len(valid)}/{len(s.smiles)}; "
                f"e.g. {', '.join(valid[:3])}", self.verbose)

    def configure_optimizers(self):
        cfg, total = self.cfg, self.total_steps or self.cfg.max_steps
        self.warmup = cfg.warmup_steps if cfg.warmup_steps is not None else min(50, total // 10)
        if self.warmup >= total and self.warmup:
            short = total // 10
            if self.trainer.is_global_zero:
                warn(f"the warm-up ({self.warmup} steps) is not shorter than the run ({total} steps): "
                     f"shortened to {short} steps, so that the learning rate anneals")
            self.warmup = short
        # on a GPU the fused Adam: one kernel for all parameters instead of several per tensor
        cuda = next(self.model.parameters()).is_cuda
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, **({"fused": True} if cuda else {}))

        def schedule(step):
            return warmup_cosine(step, total, self.warmup, cfg.min_lr_ratio, self.time_fraction)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


# ------------------------------------------------------------------------------------------ fine-tuning
ARCHITECTURE = ("cell", "embedding_dim", "hidden_size", "num_layers", "dropout")


def finetune_config(prior, actives, epochs: int = 20, batch_size: int = 32, lr: float = 5e-4,
                    val_size: int | None = None, patience: int | None = 3, keep_best: bool = True,
                    unknown: str = "skip", seed: int = 0, device: str = "auto", **options) -> LMTrainConfig:
    """Transfer learning (Segler et al. 2018): continue training ``prior`` on ``actives`` for at most ``epochs``
    epochs, keeping the epoch whose validation NLL is best.

    ``val_size`` actives (default: a tenth of them) are held out; their NLL is measured after every epoch, the best
    epoch's weights are the model saved (``keep_best``), and the run stops after ``patience`` epochs without a better
    one (None: it runs all ``epochs``; with ``keep_best=False`` every epoch runs and the last is kept, whatever
    ``patience`` says). Epochs count over the actives actually trained on (after preparation, the
    molecules the prior's vocabulary cannot spell, and the validation split), so the run's steps are known once the
    data is prepared. Warm-up is a tenth of the run (at most 50 steps), the LR decays over ``epochs`` to a tenth,
    checkpoints come once an epoch. ``options`` override any other :class:`LMTrainConfig` field.
    """
    from ..models.language import load_language_model

    _, _, tokenizer, meta = load_language_model(prior)
    arch = {k: v for k, v in meta["config"].items() if k in ARCHITECTURE}
    if val_size is None:
        val_size = max(1, _count_rows(actives) // 10)
    values = dict(data=str(actives), preset="finetune", streaming=False, tokenizer=tokenizer.name, init_from=str(prior),
                  batch_size=batch_size, lr=lr, epochs=epochs, max_steps=None, warmup_steps=None, val_size=val_size,
                  val_every=None, checkpoint_every=None, n_samples=0, seed=seed, device=device, unknown=unknown,
                  min_lr_ratio=0.1, keep_best=keep_best and val_size > 0, patience=patience if val_size and keep_best else None,
                  **arch)
    return LMTrainConfig(**{**values, **options})


def _count_rows(source) -> int:
    """Non-blank SMILES rows of a file or dataset (before any chemistry): what a tenth of the actives means."""
    return len(load_smiles_list(resolve_input(source), smiles_column(source)))


# ------------------------------------------------------------------------------------------ the run
def check_inputs(cfg: LMTrainConfig, data_path: Path | None = None) -> dict:
    """Resolve and check every input before anything is written: the data (and validation) files exist and can
    be read; a prior loads and uses ``cfg.tokenizer``. Returns their paths."""
    from ..models.language import load_language_model

    if cfg.streaming and not data_path:
        from ..streaming import expand_shards

        for f in expand_shards(cfg.data):
            checks.readable(f, "training shard")
        paths = {"data": Path(cfg.data), "valid": None, "init_from": None}
    else:
        paths = {"data": Path(data_path) if data_path else resolve_input(cfg.data), "valid": None,
                 "init_from": None}
        checks.readable(paths["data"], "training data")
    if cfg.valid:
        paths["valid"] = resolve_input(cfg.valid)
        checks.readable(paths["valid"], "validation data")
    if cfg.init_from:
        paths["init_from"] = resolve_model(cfg.init_from, "language")
        tokenizer = load_language_model(paths["init_from"])[2]
        if tokenizer != cfg.tokenizer:
            raise InputError(f"the prior uses the {tokenizer} tokenizer, not {cfg.tokenizer}", cfg.init_from)
    return paths


def resume_point(cfg: LMTrainConfig, run_dir: Path, restart: bool) -> Path | None:
    """``run_dir``'s checkpoint when the run resumes (same settings but :data:`RESUMABLE_CHANGES`), else None."""
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if restart or not ckpt.exists():
        return None
    try:
        saved = json.loads((run_dir / "config.json").read_text())["config"]
    except (OSError, ValueError, KeyError):
        saved = {}
    saved = {**LMTrainConfig().to_dict(), **saved}
    now = cfg.to_dict()
    diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in RESUMABLE_CHANGES)
    if diff:
        raise InputError(f"{run_dir} holds a run with other settings ({', '.join(diff)}); resume it with the same "
                         f"options, or pass --restart to start over")
    return ckpt


# what a fresh run removes from an earlier one in the same directory (the data caches make it prepare again)
STALE = ("checkpoints", "log.csv", "metrics.json", "data/train.npz", "data/valid.npz", "data/stream.json", "data/streams",
         "data/train_augmented.npz",
         "data/train.vocabulary_rejects.csv", "data/valid.vocabulary_rejects.csv")


def clear_run(run_dir: Path) -> None:
    """Remove an earlier run's checkpoints, learning curve, metrics and data caches (a fresh start)."""
    for name in STALE:
        p = run_dir / name
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def train_language_model(cfg: LMTrainConfig, run_dir: str | os.PathLike, restart: bool = False,
                         verbose: bool = True, data_path: Path | None = None) -> dict:
    """Train (or resume) a language model in ``run_dir``; returns the final metrics.

    ``verbose`` off (the CLI's ``--quiet``) silences the progress bar and messages; warnings about the
    settings still go to stderr."""
    run_dir = Path(run_dir)
    paths = check_inputs(cfg, data_path)
    created = not run_dir.exists()
    data_existed = (run_dir / "data").exists()
    with run_lock(run_dir):
        ckpt = resume_point(cfg, run_dir, restart)
        primary = not is_launched_rank()
        if ckpt is None and primary:
            clear_run(run_dir)
        try:
            return _fit(cfg, run_dir, paths, ckpt, verbose, primary)
        except InputError:  # bad data found while preparing it: leave nothing of this run behind
            if ckpt is None and primary:
                _remove_partial(run_dir, created, data_existed)
            raise


def _remove_partial(run_dir: Path, created: bool, data_existed: bool) -> None:
    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    clear_run(run_dir)
    (run_dir / "config.json").unlink(missing_ok=True)
    if not data_existed:
        shutil.rmtree(run_dir / "data", ignore_errors=True)


def _fit(cfg: LMTrainConfig, run_dir: Path, paths: dict, ckpt: Path | None, verbose: bool, primary: bool) -> dict:
    seed_everything(cfg.seed)
    if primary:
        record(run_dir, cfg.to_dict(), paths["data"])
    if ckpt is not None:
        say(f"resuming from {ckpt}", verbose)
    dm = LMDataModule(str(paths["data"]), str(run_dir), cfg.tokenizer, cfg.max_tokens, cfg.batch_size, cfg.val_size,
                      str(paths["valid"]) if paths["valid"] else None, cfg.seed, cfg.unknown,
                      str(paths["init_from"]) if paths["init_from"] else None, verbose=verbose,
                      streaming=cfg.streaming, workers=cfg.workers, buffer=cfg.shuffle_buffer, augment=cfg.augment)
    module = LMModule({**cfg.to_dict(), "init_from": dm.hparams.init_from}, verbose=verbose)
    timing = Timing(cfg.max_minutes)
    if cfg.checkpoint_every:
        checkpoints = L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True,
                                                          save_top_k=0, every_n_train_steps=cfg.checkpoint_every)
    else:  # once an epoch (a fine-tune)
        checkpoints = EpochCheckpoint(run_dir / "checkpoints" / "last.ckpt")
    callbacks = [timing, CsvLog(run_dir / "log.csv", timing, dm.steps_per_epoch), RngState(), checkpoints]
    best = BestWeights("val_nll", run_dir / "checkpoints" / "best.safetensors") if cfg.keep_best else None
    if best is not None:
        callbacks.append(best)
        if cfg.patience:
            # strict off: actives too few to hold any out leave no validation, and then nothing stops early
            callbacks.append(L.pytorch.callbacks.EarlyStopping("val_nll", patience=cfg.patience, mode="min",
                                                               strict=False))
    if verbose:
        callbacks.append(progress_bar(refresh_rate=20))
    trainer = make_trainer(cfg, run_dir, callbacks, verbose)
    started = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if dm.valid_cache is not None and module.last_val_step != trainer.global_step:
        trainer.validate(module, datamodule=dm, verbose=False)  # the final step's validation NLL, not an older one
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    if checkpoints._last_global_step_saved != trainer.global_step:  # a longer rerun resumes from the last step
        trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    metrics.update(_run_facts(cfg, trainer, module, dm, timing, started))
    if cfg.streaming:
        _tell_streamed_skips(run_dir, dm.world() * dm.streams_per_rank(), metrics, verbose and primary)
    if best is not None and best.restore(module):  # the model saved is the best validation epoch's
        metrics.update({"best_val_nll": best.best, "best_step": best.step,
                        "best_epoch": round(best.step / max(1, dm.steps_per_epoch()), 3),
                        "stopped_early": trainer.global_step < module.total_steps})
    if primary:
        _save(cfg, run_dir, paths, module, dm, metrics)
    return metrics


def make_trainer(cfg: LMTrainConfig, run_dir: Path, callbacks: list, verbose: bool):
    """The Lightning Trainer: steps (``max_steps`` is set again once the data fixes the epochs), no Lightning
    logger (``log.csv`` is ours), validation every ``val_every`` steps or once an epoch; ``devices`` processes on
    each of ``num_nodes`` nodes (DDP, :func:`.checks.distributed`)."""
    has_valid = bool(cfg.valid) or cfg.val_size > 0
    if not has_valid:
        val = {"limit_val_batches": 0}
    elif cfg.val_every:
        val = {"val_check_interval": cfg.val_every, "check_val_every_n_epoch": None}
    else:
        val = {"check_val_every_n_epoch": 1}
    return make_lightning_trainer(cfg, callbacks, verbose, cfg.clip, max_steps=cfg.max_steps or -1, max_epochs=-1,
                                  log_every_n_steps=50, logger=False, default_root_dir=str(run_dir),
                                  deterministic=False, **val)


def _tell_streamed_skips(run_dir: Path, streams: int, metrics: dict, verbose: bool) -> None:
    """A streamed run's molecules skipped in the first epoch (too long, a token outside the vocabulary), counted by
    every stream, into ``metrics`` (``streamed``) and said."""
    from ..streaming import skipped_in_streams

    seen = skipped_in_streams(run_dir / "data" / "streams", streams)
    if seen is None:
        return
    metrics["streamed"] = seen
    if seen["too_long"] or seen["unspellable"]:
        span = "the first epoch" if seen["first_epoch_done"] else "the first epoch so far"
        if seen["streams_reported"] < streams:
            span += f" (by {seen['streams_reported']} of the {streams} streams)"
        say(f"streamed: of {seen['read']:,} molecules read in {span}, {seen['too_long']:,} longer than max_tokens "
            f"and {seen['unspellable']:,} with a token outside the vocabulary were skipped", verbose)


def _run_facts(cfg, trainer, module, dm, timing: Timing, started: float) -> dict:
    """What metrics.json says besides the logged values: steps, epochs, time, sizes, the final LR."""
    steps = trainer.global_step
    per = dm.steps_per_epoch()
    return {"steps": steps, "epochs": round(steps / per, 3) if per else None,
            "val_step": module.last_val_step, "resumed_from": module.first_step or None,
            "elapsed_s": round(timing.elapsed(), 1), "seconds_this_session": round(time.perf_counter() - started, 1),
            "lr": trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None,
            "warmup_steps": module.warmup, "precision": cfg.precision,
            "train_size": dm.sizes.get("train"), "val_size": dm.sizes.get("valid"),
            "train_molecules": dm.sizes.get("train_molecules", dm.sizes.get("train")),
            "val_size_requested": dm.sizes.get("val_size_requested")}


def _save(cfg, run_dir: Path, paths: dict, module, dm, metrics: dict) -> None:
    from ..models.language import save_language_model

    data = paths["data"]
    training = {"seed": cfg.seed, "data": str(data), "data_sha256": sha256_of(data) if data.is_file() else None,
                "steps": metrics["steps"], "preset": cfg.preset, "config": cfg.to_dict(), "versions": versions(),
                "hardware": hardware(), "metrics": metrics, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    model = module.model.eval()
    save_language_model(run_dir / "model", model, dm.vocabulary, cfg.tokenizer, training)
    with atomic_write(run_dir / "metrics.json") as fh:
        json.dump(metrics, fh, indent=1)
