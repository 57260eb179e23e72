"""Training property models on Lightning: a (bi)RNN regressor, early stopping on validation loss, test-split
metrics, and the model file (safetensors + JSON) in ``run_dir/model``.

Targets are standardized with the training split's mean and standard deviation (stored in the model file).
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import chem
from ..batching import BucketBatchSampler, by_length, collate
from ..errors import InputError  # noqa: F401

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


# ------------------------------------------------------------------------------------------ train
@dataclass
class PropertyTrainConfig:
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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        return d


def train_property_model(cfg: PropertyTrainConfig, run_dir, progress: bool = True) -> dict:
    """Train, early-stop on validation loss, evaluate on the test split, save ``run_dir/model``."""
    from ..datasets import resolve_input
    from ..io import write_rejects
    from ..labels import load_labelled, split_indices
    from ..metrics import regression_metrics
    from ..models.property import PropertyConfig, PropertyModel, save_property_model
    from ..runinfo import hardware, record, versions, write_json
    from ..tokens import Vocabulary, get_tokenizer
    from ..utils import resolve_device, seed_everything
    from . import quiet_lightning

    L = quiet_lightning()
    run_dir = Path(run_dir)
    seed_everything(cfg.seed)
    targets = list(cfg.targets)
    data_path = resolve_input(cfg.data)
    record(run_dir, cfg.to_dict(), data_path)
    smiles, Y, rejects = load_labelled(cfg.data, targets, cfg.column)
    if rejects:
        write_rejects(run_dir / "rejects.csv", rejects)
    tr, va, te = split_indices(smiles, cfg.split, seed=cfg.seed)
    tok = get_tokenizer(cfg.tokenizer)
    vocab = Vocabulary.build(tok.tokenize(smiles[i]) for i in tr)
    mean, std = Y[tr].mean(0), Y[tr].std(0) + 1e-8
    Z = (Y - mean) / std
    sets = {name: Encoded([smiles[i] for i in idx], Z[idx], tok, vocab, cfg.augment and name == "train", cfg.seed)
            for name, idx in (("train", tr), ("val", va), ("test", te))}
    pcfg = PropertyConfig(len(vocab), targets, cfg.embedding_dim, cfg.hidden_size, cfg.num_layers, cfg.bidirectional,
                          cfg.cell, cfg.impl, cfg.pooling, cfg.mlp_hidden, cfg.dropout, vocab.pad_id)
    model = PropertyModel(pcfg)

    def loader(name, shuffle):
        lengths = [len(x) for x in sets[name].fixed]
        sampler = BucketBatchSampler(lengths, cfg.batch_size if shuffle else 512, shuffle=shuffle, seed=cfg.seed)
        return torch.utils.data.DataLoader(sets[name], batch_sampler=sampler, collate_fn=_collate)

    class PropModule(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def training_step(self, batch, _):
            ids, lengths, y = batch
            loss = torch.nn.functional.mse_loss(self.model(ids, lengths), y)
            self.log("train_loss", loss, prog_bar=True)
            return loss

        def validation_step(self, batch, _):
            ids, lengths, y = batch
            loss = torch.nn.functional.mse_loss(self.model(ids, lengths), y)
            self.log("val_loss", loss, prog_bar=True, batch_size=len(y))

        def on_train_start(self):
            self.started = time.perf_counter()

        def configure_optimizers(self):
            opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
            if cfg.lr_schedule == "plateau":
                sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, cfg.patience // 2))
                return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val_loss"}}
            total = cfg.max_epochs * max(1, len(tr) // cfg.batch_size)
            budget = cfg.max_minutes * 60 if cfg.max_minutes else None

            def schedule(step):  # fraction done = the larger of steps/total and time/budget
                if step < 100:
                    return (step + 1) / 100
                done = step / total
                if budget:
                    done = max(done, (time.perf_counter() - getattr(self, "started", time.perf_counter())) / budget)
                return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    ckpt_cb = L.pytorch.callbacks.ModelCheckpoint(dirpath=run_dir / "checkpoints", monitor="val_loss", save_top_k=1,
                                                  save_last=True, filename="best")
    callbacks = [ckpt_cb, L.pytorch.callbacks.EarlyStopping("val_loss", patience=cfg.patience)]
    accel = resolve_device(cfg.device)
    trainer = L.Trainer(accelerator=accel, devices=1, precision=cfg.precision, max_epochs=cfg.max_epochs,
                        max_time={"minutes": cfg.max_minutes} if cfg.max_minutes else None, callbacks=callbacks,
                        logger=L.pytorch.loggers.CSVLogger(str(run_dir), name="", version="log"),
                        enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0,
                        gradient_clip_val=1.0, use_distributed_sampler=False, reload_dataloaders_every_n_epochs=1)
    t0 = time.perf_counter()
    module = PropModule()
    trainer.fit(module, train_dataloaders=loader("train", True), val_dataloaders=loader("val", False))
    seconds = time.perf_counter() - t0
    if ckpt_cb.best_model_path:
        best = torch.load(ckpt_cb.best_model_path, map_location="cpu", weights_only=False)
        module.load_state_dict(best["state_dict"])
    model.eval()
    pred = by_length(model, sets["test"].fixed, len(targets), vocab.pad_id, 512) * std + mean
    metrics = {t: regression_metrics(Y[te][:, k], pred[:, k]) for k, t in enumerate(targets)}
    metrics["_run"] = {"train": len(tr), "val": len(va), "test": len(te), "rejected": len(rejects),
                       "epochs": trainer.current_epoch, "seconds": round(seconds, 1), "split": cfg.split}
    training = {"seed": cfg.seed, "data": str(data_path), "config": cfg.to_dict(), "metrics": metrics,
                "max_tokens": int(max(len(x) for x in sets["train"].fixed)) - 2,  # without <bos>/<eos>
                "versions": versions(), "hardware": hardware()}
    save_property_model(run_dir / "model", model, vocab, cfg.tokenizer, {"mean": mean.tolist(), "std": std.tolist()},
                        training)
    write_json(run_dir / "metrics.json", metrics)
    return metrics
