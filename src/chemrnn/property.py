"""Property prediction: labelled data, splits, Lightning training, prediction, evaluation and embeddings.

Labels: any numeric column of a CSV can be a target; ``logP`` (RDKit Crippen MolLogP) and ``TPSA`` (RDKit
CalcTPSA) are computed, and cached, when the file lacks them. Splits: random or Bemis–Murcko scaffold, seeded.
Targets are standardized with the training split's mean and standard deviation (stored in the model file).
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from . import chem
from .batching import BucketBatchSampler, collate
from .errors import InputError

COMPUTABLE = {"logP", "TPSA"}


# ------------------------------------------------------------------------------------------- data
def load_labelled(source, targets: list[str], column: str | None = None, jobs: int = 0):
    """``(smiles, Y, rejects)``: canonical SMILES with their target values, from a CSV/TSV or dataset name.

    Missing ``logP``/``TPSA`` columns are computed with RDKit; other missing targets are an error naming the
    columns that exist. Rows with an invalid SMILES or a non-numeric target are rejected with a reason.
    """
    import pandas as pd

    from .datasets import resolve_input, smiles_column
    from .metrics import canonical_all

    path = resolve_input(source)
    col = column or smiles_column(source)
    try:
        df = pd.read_csv(path, sep="\t" if ".tsv" in path.name else ",")
    except (OSError, ValueError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"cannot read as CSV ({exc})", path) from None
    names = {c.lower(): c for c in df.columns}
    col = col if col in df.columns else names.get((col or "smiles").lower())
    if col is None:
        raise InputError(f"no SMILES column (columns: {', '.join(map(str, df.columns[:20]))})", path)
    smiles = df[col].astype(str).str.strip().tolist()
    canon = canonical_all(smiles, jobs)
    Y = np.full((len(df), len(targets)), np.nan)
    for k, t in enumerate(targets):
        if t in df.columns:
            Y[:, k] = pd.to_numeric(df[t], errors="coerce").to_numpy(dtype=float)
        elif t not in COMPUTABLE:
            raise InputError(f"no target column {t!r} (columns: {', '.join(map(str, df.columns[:20]))}); "
                             f"computable without a column: {', '.join(sorted(COMPUTABLE))}", path)
    missing = [k for k, t in enumerate(targets) if t not in df.columns]
    if missing:
        computed = _computed_labels(path, [c or "" for c in canon])
        for k in missing:
            Y[:, k] = computed[targets[k]]
    keep, rejects = [], []
    for i, (s, c) in enumerate(zip(smiles, canon)):
        if c is None:
            rejects.append((i + 2, chem.canonical(s)[1] or "invalid SMILES", s))
        elif not np.isfinite(Y[i]).all():
            rejects.append((i + 2, "missing or non-numeric target value", s))
        else:
            keep.append(i)
    return [canon[i] for i in keep], Y[keep], rejects


def _computed_labels(path: Path, canon: list[str]) -> dict[str, np.ndarray]:
    """RDKit logP and TPSA of every row, cached next to the user cache by the file's SHA-256."""
    from .datasets import cache_dir, sha256_of
    from .metrics import _pool_map

    cached = cache_dir() / "labels" / f"{sha256_of(path)[:24]}.npz"
    if cached.exists():
        with np.load(cached, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    rows = _pool_map(_descriptor_batch, canon, os.cpu_count() or 1)
    out = {t: np.array([r[t] if r else np.nan for r in rows], dtype=float) for t in sorted(COMPUTABLE)}
    cached.parent.mkdir(parents=True, exist_ok=True)
    from .io import atomic_write

    with atomic_write(cached, "wb") as fh:
        np.savez(fh, **out)
    return out


def _descriptor_batch(smiles: list[str]):
    return [chem.descriptors(s) if s else None for s in smiles]


def split_indices(smiles: list[str], method: str = "random", fractions=(0.8, 0.1, 0.1), seed: int = 0):
    """Train/validation/test indices: ``random``, or ``scaffold`` (Bemis–Murcko groups never straddle splits;
    groups larger than half the test set go to training, the rest are shuffled by ``seed``)."""
    n = len(smiles)
    rng = random.Random(seed)
    if method == "random":
        idx = list(range(n))
        rng.shuffle(idx)
        a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
        return np.array(sorted(idx[:a])), np.array(sorted(idx[a:b])), np.array(sorted(idx[b:]))
    if method != "scaffold":
        raise InputError(f"split must be random or scaffold, not {method!r}")
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        groups.setdefault(chem.murcko_scaffold(s) or "", []).append(i)
    big = [g for g in groups.values() if len(g) > fractions[2] * n / 2]
    small = [g for g in groups.values() if len(g) <= fractions[2] * n / 2]
    rng.shuffle(small)
    train, val, test = [], [], []
    for g in sorted(big, key=len, reverse=True) + small:
        if len(train) + len(g) <= fractions[0] * n:
            train += g
        elif len(val) + len(g) <= fractions[1] * n:
            val += g
        else:
            test += g
    return np.array(sorted(train)), np.array(sorted(val)), np.array(sorted(test))


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
    from .io import write_rejects
    from .lecture import seed_everything
    from .metrics import regression_metrics
    from .models import modelfile
    from .models.property import PropertyConfig, PropertyModel
    from .runinfo import hardware, record, versions, write_json
    from .tokens import Vocabulary, get_tokenizer
    from .train import _lightning, resolve_device

    L = _lightning()
    run_dir = Path(run_dir)
    seed_everything(cfg.seed)
    targets = list(cfg.targets)
    from .datasets import resolve_input

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
    pred = _predict_ids(model, sets["test"].fixed) * std + mean
    metrics = {t: regression_metrics(Y[te][:, k], pred[:, k]) for k, t in enumerate(targets)}
    metrics["_run"] = {"train": len(tr), "val": len(va), "test": len(te), "rejected": len(rejects),
                       "epochs": trainer.current_epoch, "seconds": round(seconds, 1), "split": cfg.split}
    meta = {"kind": "property", "config": {k: v for k, v in pcfg.to_dict().items() if k != "impl"},
            "vocabulary": vocab.to_dict(), "tokenizer": cfg.tokenizer, "targets": targets,
            "scaling": {"mean": mean.tolist(), "std": std.tolist()},
            "training": {"seed": cfg.seed, "data": str(data_path), "config": cfg.to_dict(), "metrics": metrics,
                         "versions": versions(), "hardware": hardware()}}
    modelfile.save(run_dir / "model", model.state_dict(), meta)
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def inference_precision(precision: str = "auto"):
    """Autocast context for prediction: ``bf16`` (bfloat16 recurrences, float32 read-out), ``32``, or ``auto``:
    bf16 where the CPU has native bf16 (AVX-512 bf16 / AMX), where it is ~2× faster and moves predictions by about
    1e-3 logP units; float32 elsewhere."""
    import contextlib

    if precision not in ("auto", "32", "bf16"):
        raise InputError(f"precision must be auto, 32 or bf16, not {precision!r}")
    if precision == "auto":
        precision = "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "32"
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.inference_mode()
def _by_length(fn, id_arrays, width: int, pad_id: int, precision: str = "32", batch_size: int = 256) -> np.ndarray:
    """``fn(ids, lengths)`` over length-sorted batches of token-id arrays; rows ``[n, width]`` in input order."""
    out = np.zeros((len(id_arrays), width), dtype=np.float64)
    order = np.argsort([len(a) for a in id_arrays], kind="stable")
    with inference_precision(precision):
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            out[idx] = fn(*collate([id_arrays[i] for i in idx], pad_id)).double().numpy()
    return out


def _predict_ids(model, id_arrays, precision: str = "32") -> np.ndarray:
    """Standardized predictions for token-id arrays, returned in input order."""
    return _by_length(model, id_arrays, len(model.config.targets), model.config.pad_id, precision)


# ------------------------------------------------------------------------------------------ use
def load_property_model(path, impl: str = "fused"):
    from .models import modelfile
    from .models.property import PropertyConfig, PropertyModel
    from .tokens import Vocabulary, get_tokenizer

    if str(path) == "shipped" and not Path(path).exists():
        from .api import shipped_property_model

        path = shipped_property_model()
    state, meta = modelfile.load(path)
    if meta.get("kind") != "property":
        raise InputError(f"is a {meta.get('kind')} model, not a property model", path)
    known = {f.name for f in fields(PropertyConfig)}
    model = PropertyModel(PropertyConfig(**{k: v for k, v in meta["config"].items() if k in known}, impl=impl))
    model.load_state_dict(state)
    model.eval()
    return model, Vocabulary.from_dict(meta["vocabulary"]), get_tokenizer(meta["tokenizer"]), meta


def predict_smiles(model_path, smiles: list[str], augment: int = 0, seed: int = 0, precision: str = "auto"):
    """Predictions ``[n, targets]`` (NaN where the SMILES is invalid) and the reason for each invalid one.

    ``augment > 0`` averages the predictions over that many randomized SMILES of each molecule;
    ``precision``: see :func:`inference_precision`.
    """
    model, vocab, tok, meta = load_property_model(model_path)
    mean, std = np.array(meta["scaling"]["mean"]), np.array(meta["scaling"]["std"])
    canon = [chem.canonical(s) for s in smiles]
    ok = [i for i, (c, _) in enumerate(canon) if c is not None]
    out = np.full((len(smiles), len(meta["targets"])), np.nan)
    reasons = ["" if c is not None else r for c, r in canon]
    if ok:
        variants = [[canon[i][0]] for i in ok]
        if augment:
            for v, i in zip(variants, ok):
                v += chem.randomized(canon[i][0], augment, seed=seed)
        flat = [np.array(vocab.encode(tok.tokenize(s), unknown="unk")) for v in variants for s in v]
        z = _predict_ids(model, flat, precision=precision)
        per = len(variants[0])
        out[ok] = z.reshape(len(ok), per, -1).mean(1) * std + mean
    return out, reasons, meta["targets"]


def embed_smiles(model_path, smiles: list[str], precision: str = "32") -> tuple[np.ndarray, list[str]]:
    """Pooled RNN vectors ``[n, width]`` (NaN rows for invalid SMILES) and the reasons."""
    model, vocab, tok, _ = load_property_model(model_path)
    canon = [chem.canonical(s) for s in smiles]
    ok = [i for i, (c, _) in enumerate(canon) if c is not None]
    out = np.full((len(smiles), model.embedding_width), np.nan, dtype=np.float32)
    arrays = [np.array(vocab.encode(tok.tokenize(canon[i][0]), unknown="unk")) for i in ok]
    if arrays:
        out[ok] = _by_length(model.embed, arrays, model.embedding_width, model.config.pad_id, precision)
    return out, ["" if c is not None else r for c, r in canon]




def evaluate_property_model(model_path, source, output, column: str | None = None) -> dict:
    """Metrics per target, parity plots (PNG) and MAE by heavy-atom count on a labelled file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .lecture import _save_fig
    from .metrics import regression_metrics
    from .runinfo import write_json

    _, _, _, meta = load_property_model(model_path)
    targets = meta["targets"]
    smiles, Y, rejects = load_labelled(source, targets, column)
    pred, _, _ = predict_smiles(model_path, smiles)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    sizes = np.array(chem.heavy_atoms(smiles))
    res: dict = {"_n": len(smiles), "_rejected": len(rejects)}
    for k, t in enumerate(targets):
        res[t] = regression_metrics(Y[:, k], pred[:, k])
        bins = [(0, 15), (16, 20), (21, 25), (26, 30), (31, 35), (36, 200)]
        res[t]["MAE_by_heavy_atoms"] = {
            f"{lo}-{hi}" if hi < 200 else f"{lo}+": float(np.abs(pred[sel, k] - Y[sel, k]).mean())
            for lo, hi in bins if (sel := (sizes >= lo) & (sizes <= hi)).any()}
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(Y[:, k], pred[:, k], s=3, alpha=0.3)
        lo, hi = float(min(Y[:, k].min(), pred[:, k].min())), float(max(Y[:, k].max(), pred[:, k].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"{t} (RDKit)")
        ax.set_ylabel(f"{t} (predicted)")
        ax.set_title(f"{t}: MAE {res[t]['MAE']:.3f}, R² {res[t]['R2']:.3f}")
        _save_fig(fig, output / f"parity_{t}.png")
    write_json(output / "metrics.json", res)
    return res
