"""Training property models on Lightning: a (bi)RNN regressor (:class:`PropertyModule`), early stopping on
validation loss, the best validation weights kept in memory (:class:`~.callbacks.BestWeights`; no checkpoint is
unpickled), test-split metrics, and the model file (safetensors + JSON) in ``run_dir/model``.

Targets are standardized with the training split's mean and standard deviation (stored in the model file). A bad
setting or an unreadable input is refused before anything is written; one process at a time per run directory.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import chem
from ..batching import BucketBatchSampler, by_length, collate
from ..cells import CELLS, IMPLS
from ..errors import InputError
from ..models.property import POOLINGS
from ..tokens import TOKENIZERS
from . import checks, quiet_lightning
from .callbacks import BestWeights, Timing

L = quiet_lightning()


class Encoded(torch.utils.data.Dataset):
    """SMILES → token ids; with ``augment``, a new random SMILES of each molecule every time it is drawn."""

    def __init__(self, smiles, Y, tokenizer, vocabulary, augment: bool = False, seed: int = 0):
        self.smiles, self.Y, self.tok, self.vocab, self.augment = smiles, Y, tokenizer, vocabulary, augment
        self.fixed = [np.array(vocabulary.encode(tokenizer.tokenize(s), unknown="unk")) for s in smiles]
        self.rng = random.Random(seed)

    def __len__(self):
        return len(self.smiles)

    def __getitem__(self, i):
        if self.augment:
            s = chem.randomized(self.smiles[i], 1, seed=self.rng.randrange(2**31))[0]
            ids = np.array(self.vocab.encode(self.tok.tokenize(s), unknown="unk"))
        else:
            ids = self.fixed[i]
        return ids, self.Y[i]


def _collate(items, pad_id=0):
    ids, lengths = collate([i for i, _ in items], pad_id)
    return ids, lengths, torch.tensor(np.stack([y for _, y in items]), dtype=torch.float32)


class RankBuckets:
    """The training batches of this process: :class:`~.data.ResumableBuckets` of the rank that iterates it (looked
    up then, once the DDP process group exists; one process: plain length buckets). ``batch_size`` is per rank;
    ``world`` sizes ``len`` before the processes start."""

    def __init__(self, lengths, batch_size: int, seed: int, world: int = 1):
        self.lengths, self.batch_size, self.seed, self.world, self.epoch = lengths, batch_size, seed, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _sampler(self, rank: int, world: int):
        from .data import ResumableBuckets

        s = ResumableBuckets(self.lengths, self.batch_size, self.seed, rank=rank, world=world)
        s.set_epoch(self.epoch)
        return s

    def __iter__(self):
        dist = torch.distributed
        on = dist.is_available() and dist.is_initialized()
        return iter(self._sampler(dist.get_rank() if on else 0, dist.get_world_size() if on else 1))

    def __len__(self):
        return len(self._sampler(0, self.world))


# ------------------------------------------------------------------------------------------ config
@dataclass
class PropertyTrainConfig:
    """Settings of a property-model run; checked when made (every bad value refused at once, with the valid
    ones), ``precision`` resolved to Lightning's name (``auto``/``32``/``bf16`` accepted)."""

    data: str = "sample"
    targets: tuple = ("logP", "TPSA")
    column: str | None = None
    split: str = "random"
    tokenizer: str = "atom"
    cell: str = "gru"
    impl: str = "fused"
    embedding_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "sum"  # additive read-out: right for logP/TPSA-like sums of atom contributions
    mlp_hidden: int = 256
    dropout: float = 0.0
    batch_size: int = 128
    lr: float = 2e-3
    lr_schedule: str = "cosine"  # cosine: warm-up, then cosine decay over the epoch or time budget | plateau
    max_epochs: int = 30
    max_minutes: float | None = None
    patience: int = 5
    augment: bool = False
    seed: int = 0
    device: str = "auto"
    precision: str = "32-true"
    devices: int | None = None  # processes per node (DDP); None: 1 on CPU, every GPU on a GPU machine
    num_nodes: int = 1
    strategy: str = "auto"  # auto (ddp when there is more than one process) | ddp

    def __post_init__(self):
        self.validate()
        self.precision = checks.resolve_precision(self.precision, self.device)

    def validate(self) -> None:
        """Refuse every bad value at once (:class:`InputError`, exit 2), naming the valid ones."""
        c = checks
        problems = (
            c.choice("cell", self.cell, CELLS) + c.choice("impl", self.impl, IMPLS)
            + c.choice("strategy", self.strategy, checks.STRATEGIES)
            + c.at_least("devices", self.devices, 1, optional=True) + c.at_least("num_nodes", self.num_nodes, 1)
            + c.choice("pooling", self.pooling, POOLINGS) + c.choice("split", self.split, ("random", "scaffold"))
            + c.choice("lr_schedule", self.lr_schedule, ("cosine", "plateau"))
            + c.choice("tokenizer", self.tokenizer, tuple(TOKENIZERS)) + c.choice("device", self.device, c.DEVICES)
            + c.choice("precision", self.precision, tuple(c.PRECISIONS))
            + [p for name in ("hidden_size", "num_layers", "mlp_hidden", "batch_size", "max_epochs", "patience")
               for p in c.at_least(name, getattr(self, name), 1)]
            + c.at_least("embedding_dim", self.embedding_dim, 0) + c.above("lr", self.lr, 0)
            + c.above("max_minutes", self.max_minutes, 0, optional=True) + c.fraction("dropout", self.dropout)
            + ([] if self.targets and all(isinstance(t, str) and t for t in self.targets)
               else [f"targets must name at least one column, not {self.targets!r}"]))
        c.refuse(problems, "property training option")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        return d


# ------------------------------------------------------------------------------------------ module
def property_lr_factor(step: int, total: int, time_fraction: float = 0.0, warmup: int = 100) -> float:
    """Linear warm-up, then cosine decay to 1 % of the LR; the fraction done is the larger of steps/total and the
    time budget spent."""
    if step < warmup and time_fraction < 1.0:
        return (step + 1) / warmup
    done = max(step / total, time_fraction)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


class PropertyModule(L.LightningModule):
    """Mean squared error on standardized targets for a :class:`~chemrnn.models.property.PropertyModel`.

    ``config`` is :meth:`PropertyTrainConfig.to_dict` and ``total_steps`` the cosine schedule's length (both
    saved as hyperparameters); ``time_fraction`` is set by the :class:`~.callbacks.Timing` callback."""

    def __init__(self, model, config: dict, total_steps: int):
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        self.model = model
        self.time_fraction = 0.0

    def _loss(self, batch):
        ids, lengths, y = batch
        return torch.nn.functional.mse_loss(self.model(ids, lengths), y), len(y)

    def training_step(self, batch, _):
        world = self.trainer.world_size if self._trainer is not None else 1
        if world > 1:
            return self._global_batch_loss(batch, world)
        loss, n = self._loss(batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=n)
        return loss

    def _global_batch_loss(self, batch, world: int):
        """Under DDP: the mean squared error over the *global* batch (every rank's share of it, see
        :class:`~.data.ResumableBuckets`), as one process with the whole batch computes it: DDP averages the
        gradients, so each rank returns its sum times ``world`` over the global count."""
        ids, lengths, y = batch
        se = (self.model(ids, lengths) - y).pow(2).sum()
        total = self.trainer.strategy.reduce(torch.stack([se.detach().float(), se.new_tensor(float(y.numel()))]),
                                             reduce_op="sum")
        self.log("train_loss", total[0] / total[1], prog_bar=True, batch_size=len(y))
        return se * world / total[1]

    def validation_step(self, batch, _):
        loss, n = self._loss(batch)
        self.log("val_loss", loss, prog_bar=True, batch_size=n, sync_dist=True)  # every rank validates it all

    def configure_optimizers(self):
        cfg = self.hparams.config
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg["lr"])
        if cfg["lr_schedule"] == "plateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, cfg["patience"] // 2))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val_loss"}}
        total = self.hparams.total_steps

        def schedule(step):
            return property_lr_factor(step, total, self.time_fraction)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


# ------------------------------------------------------------------------------------------ train
def train_property_model(cfg: PropertyTrainConfig, run_dir, progress: bool = True) -> dict:
    """Train, early-stop on validation loss, evaluate the best weights on the test split, save ``run_dir/model``.

    The input is checked and read before anything is written to ``run_dir``."""
    from ..datasets import resolve_input
    from ..labels import load_labelled, split_indices
    from ..utils import seed_everything
    from .lock import run_lock

    run_dir = Path(run_dir)
    data_path = resolve_input(cfg.data)
    checks.readable(data_path, "labelled data")
    seed_everything(cfg.seed)
    smiles, Y, rejects = load_labelled(cfg.data, list(cfg.targets), cfg.column)
    if len(smiles) < 3:
        first = f" (first: line {rejects[0][0]}, {rejects[0][1]})" if rejects else ""
        raise InputError(f"{len(smiles)} labelled molecule(s), at least 3 are needed for training, validation and "
                         f"test; {len(rejects):,} rows rejected{first}", data_path)
    splits = split_indices(smiles, cfg.split, seed=cfg.seed)
    with run_lock(run_dir):
        return _train(cfg, run_dir, data_path, smiles, Y, rejects, splits, progress)


def _train(cfg, run_dir: Path, data_path: Path, smiles, Y, rejects, splits, progress: bool) -> dict:
    import time

    from ..io import write_rejects
    from ..metrics import regression_metrics
    from ..models.property import PropertyConfig, PropertyModel, save_property_model
    from ..runinfo import hardware, record, versions, write_json
    from ..tokens import Vocabulary, get_tokenizer
    from ..utils import resolve_device

    from .lock import is_launched_rank

    primary = not is_launched_rank()  # under DDP the other processes train and leave the files to rank 0
    if primary:
        record(run_dir, cfg.to_dict(), data_path)
        if rejects:
            write_rejects(run_dir / "rejects.csv", rejects)
    targets = list(cfg.targets)
    tr, va, te = splits
    tok = get_tokenizer(cfg.tokenizer)
    vocab = Vocabulary.build(tok.tokenize(smiles[i]) for i in tr)
    mean, std = Y[tr].mean(0), Y[tr].std(0) + 1e-8
    Z = (Y - mean) / std
    sets = {name: Encoded([smiles[i] for i in idx], Z[idx], tok, vocab, cfg.augment and name == "train", cfg.seed)
            for name, idx in (("train", tr), ("val", va), ("test", te))}
    model = PropertyModel(PropertyConfig(len(vocab), targets, cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
                                         cfg.bidirectional, cfg.cell, cfg.impl, cfg.pooling, cfg.mlp_hidden,
                                         cfg.dropout, vocab.pad_id))

    def loader(name, shuffle):
        lengths = [len(x) for x in sets[name].fixed]
        sampler = (RankBuckets(lengths, cfg.batch_size, cfg.seed, world) if shuffle
                   else BucketBatchSampler(lengths, 512, shuffle=False))
        return torch.utils.data.DataLoader(sets[name], batch_sampler=sampler, collate_fn=_collate)

    best = BestWeights("val_loss")
    timing = Timing(cfg.max_minutes)
    callbacks = [timing, best, L.pytorch.callbacks.EarlyStopping("val_loss", patience=cfg.patience)]
    accel = resolve_device(cfg.device)
    devices, strategy = checks.distributed(cfg, accel)
    trainer = L.Trainer(accelerator=accel, devices=devices, num_nodes=cfg.num_nodes, strategy=strategy,
                        precision=cfg.precision, max_epochs=cfg.max_epochs, callbacks=callbacks,
                        logger=L.pytorch.loggers.CSVLogger(str(run_dir), name="", version="log"),
                        log_every_n_steps=50, enable_checkpointing=False,
                        enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0,
                        gradient_clip_val=1.0, use_distributed_sampler=False, reload_dataloaders_every_n_epochs=1)
    world = trainer.world_size
    train_loader = loader("train", True)
    per_epoch = len(train_loader)
    trainer.log_every_n_steps = max(1, min(50, per_epoch))
    module = PropertyModule(model, cfg.to_dict(), total_steps=cfg.max_epochs * max(1, per_epoch))
    t0 = time.perf_counter()
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=loader("val", False))
    seconds = time.perf_counter() - t0
    if not primary:
        return {}
    best.restore(module)
    model.eval()
    pred = by_length(model, sets["test"].fixed, len(targets), vocab.pad_id, 512) * std + mean
    metrics = {t: regression_metrics(Y[te][:, k], pred[:, k]) for k, t in enumerate(targets)}
    metrics["_run"] = {"train": len(tr), "val": len(va), "test": len(te), "rejected": len(rejects),
                       "epochs": trainer.current_epoch, "best_epoch": best.epoch, "best_val_loss": best.best,
                       "seconds": round(seconds, 1), "split": cfg.split, "precision": cfg.precision}
    training = {"seed": cfg.seed, "data": str(data_path), "config": cfg.to_dict(), "metrics": metrics,
                "max_tokens": int(max(len(x) for x in sets["train"].fixed)) - 2,  # without <bos>/<eos>
                "versions": versions(), "hardware": hardware()}
    save_property_model(run_dir / "model", model, vocab, cfg.tokenizer, {"mean": mean.tolist(), "std": std.tolist()},
                        training)
    write_json(run_dir / "metrics.json", metrics)
    return metrics
