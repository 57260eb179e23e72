"""Training property models on Lightning: a (bi)RNN regressor (:class:`PropertyModule`), early stopping on
validation loss, the best validation weights kept in memory (:class:`~.callbacks.BestWeights`; no checkpoint is
unpickled), test-split metrics, and the model file (safetensors + JSON) in ``run_dir/model``.

Targets are standardized with the training split's mean and standard deviation (stored in the model file). A bad
setting or an unreadable input is refused before anything is written; one process at a time per run directory.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .. import chem
from ..batching import BucketBatchSampler, by_length, collate, spelled_ids
from ..datasets import resolve_input, resolve_model, SHIPPED_MODELS
from ..errors import InputError
from ..io import atomic_write, write_rejects
from ..metrics import regression_metrics
from ..options import (CELLS, DEVICES, IMPLS, LR_SCHEDULES, POOLINGS, PRECISIONS, RECIPE_CHOICES, SPLITS,
                       STRATEGIES, TOKENIZERS)
from ..runinfo import hardware, record, versions, write_json
from ..utils import seed_everything
from ..validate import choice, flag, integer, list_of, number, optional, positive, problems, refuse, setting, text
from . import checks
from ._log import quiet_lightning
from .callbacks import BestWeights, Timing, progress_bar
from .common import global_batch_mean, make_lightning_trainer, warmup_cosine

L = quiet_lightning()
# the settings that shape the network (a prior's replace the config's; the model file records them as built)
ARCHITECTURE = ("embedding_dim", "hidden_size", "num_layers", "bidirectional", "cell", "pooling", "mlp_hidden")


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
# Two recipes. standard: a quick fit for large sets (ZINC250k's RDKit labels). small: for a few thousand measured
# values, randomized SMILES (a new spelling of each molecule every epoch, test predictions averaged over the
# canonical and 10 random SMILES), 150 epochs with no early stop but the best validation weights kept, a cosine
# schedule over a 9-minute cap, and the shipped logP/TPSA model as the start (lipophilicity, random 80/10/10:
# RMSE 0.555; docs/benchmarks.md).
RECIPES = {
    "standard": {"dropout": 0.0, "batch_size": 128, "lr": 2e-3, "max_epochs": 30, "max_minutes": None,
                 "patience": 5, "augment": 0, "init_from": None},
    "small": {"dropout": 0.1, "batch_size": 32, "lr": 1e-3, "max_epochs": 150, "max_minutes": 9.0,
              "patience": 150, "augment": 10, "init_from": "zinc"},
}
SMALL_SET = 20_000  # auto: the small recipe for at most this many labelled molecules with a measured target
# the shipped logP/TPSA model's architecture: the small recipe starts from it only when the run asks for no other
SHIPPED_ARCHITECTURE = {"embedding_dim": 64, "hidden_size": 256, "num_layers": 1, "bidirectional": True,
                        "cell": "gru", "pooling": "sum", "mlp_hidden": 256, "tokenizer": "atom"}


def recipe_settings(cfg) -> dict:
    """The values ``cfg.recipe`` gives the settings left None. The small recipe's start from the shipped
    logP/TPSA model is left out when the config asks for another architecture (the prior's would replace it)."""
    values = dict(RECIPES[cfg.recipe])
    if values["init_from"] and any(getattr(cfg, k) != v for k, v in SHIPPED_ARCHITECTURE.items()):
        values["init_from"] = None
    return values


def recipe_summary(cfg) -> str:
    """What the small recipe does, in the words of the CLI's options (empty for the standard recipe)."""
    if cfg.recipe != "small":
        return ""
    start = f" --init-from {cfg.init_from}" if cfg.init_from else ""
    cap = f" --max-minutes {cfg.max_minutes:g}" if cfg.max_minutes else ""
    other = [k for k, v in SHIPPED_ARCHITECTURE.items() if getattr(cfg, k) != v]
    scratch = (f"; from scratch, not from the shipped model: another architecture ({', '.join(other)})"
               if other and not cfg.init_from else "")
    return (f": --augment {cfg.augment} --epochs {cfg.max_epochs} --patience {cfg.patience} --batch-size "
            f"{cfg.batch_size} --lr {cfg.lr:g} --dropout {cfg.dropout:g}{start}{cap}{scratch}")


def choose_recipe(n_molecules: int, origins: dict) -> tuple[str, str]:
    """``(recipe, why)`` for ``recipe = "auto"``: ``small`` when at most :data:`SMALL_SET` molecules carry a
    measured target (a column of the file other than logP and TPSA, which are RDKit's labels in the shipped and
    ZINC files), else ``standard``."""
    from ..labels import COMPUTABLE

    measured = [t for t, origin in origins.items() if origin == "file" and t not in COMPUTABLE]
    if measured and n_molecules <= SMALL_SET:
        return "small", f"{n_molecules:,} molecules with measured {', '.join(measured)}, at most {SMALL_SET:,}"
    if measured:
        return "standard", f"{n_molecules:,} molecules, more than {SMALL_SET:,}"
    return "standard", "logP/TPSA: RDKit's labels"


@dataclass
class PropertyTrainConfig:
    """Settings of a property-model run; checked when made (every bad value refused at once, with the valid
    ones), ``precision`` resolved to Lightning's name (``auto``/``32``/``bf16`` accepted)."""

    data: str = setting(text(words="a file or dataset name"), "sample")
    targets: tuple = setting(list_of(text(), min_items=1), ("logP", "TPSA"))
    column: str | None = setting(optional(text()), None)
    split: str = setting(choice(SPLITS), "random")
    tokenizer: str = setting(choice(TOKENIZERS), "atom")
    cell: str = setting(choice(CELLS), "gru")
    impl: str = setting(choice(IMPLS), "fused")
    embedding_dim: int = setting(integer(0), 64)
    hidden_size: int = setting(integer(1), 256)
    num_layers: int = setting(integer(1), 1)
    bidirectional: bool = setting(flag(), True)
    # additive read-out: right for logP/TPSA-like sums of atom contributions
    pooling: str = setting(choice(POOLINGS), "sum")
    mlp_hidden: int = setting(integer(1), 256)
    # the recipe's settings (RECIPES): left None, each takes the value of the recipe the run uses
    dropout: float | None = setting(optional(number(0, 1, high_open=True)), None)
    batch_size: int | None = setting(optional(integer(1)), None)
    lr: float | None = setting(optional(positive()), None)
    # cosine: warm-up, then cosine decay over the epoch or time budget | plateau
    lr_schedule: str = setting(choice(LR_SCHEDULES), "cosine")
    max_epochs: int | None = setting(optional(integer(1)), None)
    # None: the recipe's cap (standard: none; small: 9 minutes)
    max_minutes: float | None = setting(optional(positive()), None)
    patience: int | None = setting(optional(integer(1)), None)
    # N > 0: a new random SMILES of each training molecule every epoch, and test (out-of-fold) predictions averaged
    # over the canonical and N randomized SMILES (bool in older configs)
    augment: int | None = setting(optional(integer(0)), None)
    seed: int = setting(integer(0), 0)
    device: str = setting(choice(DEVICES), "auto")
    precision: str = setting(choice(PRECISIONS), "32-true")
    # processes per node (DDP); None: 1 on CPU, every GPU on a GPU machine
    devices: int | None = setting(optional(integer(1)), None)
    num_nodes: int = setting(integer(1), 1)
    strategy: str = setting(choice(STRATEGIES), "auto")  # auto (ddp when there is more than one process) | ddp
    # 1: one train/validation/test split; K >= 2: K-fold cross-validation, the K fold models saved as one ensemble
    folds: int = setting(integer(1), 1)
    # N >= 2: N models on each split (seeds seed, seed + 1, …; max_minutes caps each), their mean the prediction
    # and their spread the uncertainty (with folds: K × N members)
    ensemble: int = setting(integer(1), 1)
    # None: the recipe's ("none": no prior); a language model (path or shipped name): its embedding and recurrent
    # layers initialise the encoder, whose architecture and vocabulary become the prior's; or a property model
    # (path, or zinc): all its layers but the output
    init_from: str | None = setting(optional(text(words="a language or property model")), None)
    # with init_from: the encoder stays as it is; only the read-out trains
    freeze_encoder: bool = setting(flag(), False)
    # standard | small | auto: small for a small set of measured values (see choose_recipe)
    recipe: str = setting(choice(RECIPE_CHOICES), "auto")

    def __post_init__(self):
        if isinstance(self.augment, bool):  # older configs wrote true/false: true = one randomized SMILES
            self.augment = int(self.augment)
        refuse(choice(RECIPE_CHOICES).problem("recipe", self.recipe), "property training option")
        if self.recipe == "auto":  # chosen when the data are read (resolved); its explicit settings checked now
            replace(self, recipe="standard")
        else:
            for name, value in recipe_settings(self).items():
                if getattr(self, name) is None:
                    setattr(self, name, value)
            if self.init_from == "none":
                self.init_from = None
            self.validate()
        self.precision = checks.resolve_precision(self.precision, self.device)

    def resolved(self, recipe: str) -> "PropertyTrainConfig":
        """This config under a named recipe: each setting left None takes the recipe's value."""
        return replace(self, recipe=recipe) if self.recipe == "auto" else self

    def validate(self) -> None:
        """Refuse every bad value at once (:class:`InputError`, exit 2), naming the valid ones."""
        found = problems(self) + (["freeze_encoder needs init_from (a pre-trained model to freeze)"]
                                  if self.freeze_encoder and not self.init_from else [])
        refuse(found, "property training option")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        return d


# ------------------------------------------------------------------------------------------ module
def property_lr_factor(step: int, total: int, time_fraction: float = 0.0, warmup: int | None = None) -> float:
    """Linear warm-up, then cosine decay to 1 % of the LR; the fraction done is the larger of steps/total and the
    time budget spent. The warm-up is 100 steps, or a tenth of the run when that is shorter (a few hundred
    measured values at batch 128 make ~100 steps in all, which a 100-step warm-up would nearly fill)."""
    if warmup is None:
        warmup = min(100, max(1, total // 10))
    return warmup_cosine(step, total, warmup, 0.01, time_fraction, decay_after_warmup=False)


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
        loss, mean, _ = global_batch_mean(self.trainer.strategy, se, se.new_tensor(float(y.numel())), world)
        self.log("train_loss", mean, prog_bar=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, _):
        loss, n = self._loss(batch)
        self.log("val_loss", loss, prog_bar=True, batch_size=n, sync_dist=True)  # every rank validates it all

    def configure_optimizers(self):
        cfg = self.hparams.config
        opt = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=cfg["lr"])
        if cfg["lr_schedule"] == "plateau":
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, cfg["patience"] // 2))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": "val_loss"}}
        total = self.hparams.total_steps

        def schedule(step):
            return property_lr_factor(step, total, self.time_fraction)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


# ------------------------------------------------------------------------------------------ train
def train_property_model(cfg: PropertyTrainConfig, run_dir, verbose: bool = True, splits=None) -> dict:
    """Train, early-stop on validation loss, evaluate the best weights on the test split, save ``run_dir/model``.

    With ``cfg.folds = K >= 2``: K-fold cross-validation (:func:`~chemrnn.labels.cv_splits`), a model per fold,
    per-fold and mean ± sd metrics and the out-of-fold predictions (``oof.csv``); the K fold models are saved as
    one ensemble model. With ``cfg.init_from``: the encoder starts from a language or property model's weights.
    ``splits``: explicit ``(train, val, test)`` index arrays over the labelled molecules (in file order, rejects
    left out), one per fold, instead of ``cfg.split``/``cfg.folds`` (so another tool can be run on the very same
    folds; ``benchmarks/bench_experimental.py``). The input (and the prior) is checked and read before anything
    is written to ``run_dir``."""
    from ..labels import cv_splits, load_labelled, split_indices, target_origins
    from ._log import say
    from .lock import run_lock

    run_dir = Path(run_dir)
    data_path = resolve_input(cfg.data)
    checks.readable(data_path, "labelled data")
    asked = cfg.init_from not in (None, "none")
    prior = load_prior(cfg.init_from) if asked else None  # refused before the data are read
    seed_everything(cfg.seed)
    smiles, Y, rejects = load_labelled(cfg.data, list(cfg.targets), cfg.column)
    if cfg.recipe == "auto":
        recipe, why = choose_recipe(len(smiles), target_origins(cfg.data, list(cfg.targets)))
        cfg = cfg.resolved(recipe)
        if verbose:
            say(f"recipe: {recipe} ({why}){recipe_summary(cfg)}")
    if cfg.init_from and not asked:
        prior = load_prior(cfg.init_from)
    need = 3 if cfg.folds == 1 else max(3, cfg.folds)
    if len(smiles) < need:
        first = f" (first: line {rejects[0][0]}, {rejects[0][1]})" if rejects else ""
        raise InputError(f"{len(smiles)} labelled molecule(s), at least {need} are needed for training, validation "
                         f"and test; {len(rejects):,} rows rejected{first}", data_path)
    if splits is not None:
        splits = [tuple(np.asarray(part, dtype=np.int64) for part in fold) for fold in splits]
        if not splits or any(len(f) != 3 or not all(len(p) for p in f) or max(int(p.max()) for p in f) >= len(smiles)
                             for f in splits):
            raise InputError(f"splits must be non-empty (train, val, test) index arrays below {len(smiles)}")
    elif cfg.folds == 1:
        splits = [split_indices(smiles, cfg.split, seed=cfg.seed)]
    else:
        splits = cv_splits(smiles, cfg.folds, cfg.split, seed=cfg.seed)
    with run_lock(run_dir):
        return _train(cfg, run_dir, data_path, smiles, Y, rejects, splits, verbose, prior)


def load_prior(spec: str):
    """``(model, vocabulary, tokenizer, meta)`` of a transfer prior: a language model (path, or shipped name
    ``shipped``/``moses``/``chembl``) or a single property model (path, or ``zinc``: the shipped logP/TPSA model),
    told apart by the model file's kind; refused cleanly when its layers cannot be the encoder's."""
    from ..models.language import load_language_model
    from ..models.modelfile import read_meta
    from ..models.property import PropertyEnsemble, load_property_model
    from ..tokens import get_tokenizer

    named = str(spec) in SHIPPED_MODELS["property"] and str(spec) not in SHIPPED_MODELS["language"]
    path = resolve_model(spec, "property" if named else "language")
    if path.exists() and read_meta(path).get("kind") == "property":
        model, vocab, _, meta = load_property_model(path)
        if isinstance(model, PropertyEnsemble):
            raise InputError(f"is an ensemble of {len(model)} property models; transfer starts from one model "
                             "(train it with --folds 1)", path)
        if model.embedding is None:  # one-hot input: its recurrent layers' width is its own vocabulary's size
            raise InputError("reads one-hot tokens (trained with --embedding 0), so its layers cannot take a new "
                             "vocabulary; transfer starts from a model with a token embedding", path)
        return model, vocab, get_tokenizer(meta["tokenizer"]), meta
    lm, vocab, tok, meta = load_language_model(path)
    if meta["config"].get("gru_form", "pytorch") != "pytorch":
        raise InputError("this language model's GRU uses the lecture's form, which a property encoder does not "
                         "have; pick a prior with LSTM, RNN or PyTorch-form GRU cells", spec)
    return lm, vocab, tok, meta


def prior_architecture(prior_model) -> dict:
    """The encoder settings a property model takes from its prior: a language model's recurrent stack (run
    forwards only, as it was trained), or a property model's whole architecture but its output layer."""
    c = prior_model.config
    if hasattr(c, "pooling"):  # a property model
        return {k: getattr(c, k) for k in ARCHITECTURE}
    return {**{k: getattr(c, k) for k in ("embedding_dim", "hidden_size", "num_layers", "cell")},
            "bidirectional": False}


def transfer_vocabulary(prior_vocab, token_lists):
    """The prior's vocabulary with the tokens it lacks appended (their embeddings start random): the prior's ids
    stay the same, so its embedding rows copy over one for one. Returns ``(vocabulary, added tokens)``."""
    return prior_vocab.extended(token_lists)


def init_encoder_from(model, prior_model, freeze: bool = False) -> None:
    """Copy a prior's embedding (its rows are the first of ``model``'s) and recurrent layers into a property
    model's encoder; a property-model prior also gives its backward layers, attention and the read-out's hidden
    layer (every layer but the output, whose targets differ). With ``freeze``, the embedding and recurrent layers
    get no gradient, so only the read-out trains and no gradient runs back through the recurrence (the embeddings
    of tokens the prior lacks then stay at their random start)."""
    n = prior_model.embedding.weight.shape[0]
    with torch.no_grad():
        model.embedding.weight[:n].copy_(prior_model.embedding.weight)
    model.rnn.load_state_dict(prior_model.rnn.state_dict())
    if getattr(prior_model, "mlp", None) is not None:  # a property model: same architecture (prior_architecture)
        for name in ("rnn_back", "attention"):
            if getattr(prior_model, name) is not None:
                getattr(model, name).load_state_dict(getattr(prior_model, name).state_dict())
        model.mlp[0].load_state_dict(prior_model.mlp[0].state_dict())
    if freeze:
        encoder = [model.embedding, model.rnn] + ([model.rnn_back] if model.rnn_back is not None else [])
        for p in (q for m in encoder for q in m.parameters()):
            p.requires_grad_(False)


def _train(cfg, run_dir: Path, data_path: Path, smiles, Y, rejects, splits, verbose: bool, prior=None) -> dict:
    from ..models.property import PropertyEnsemble, save_property_model
    from ..tokens import Vocabulary, get_tokenizer

    from .lock import is_launched_rank

    primary = not is_launched_rank()  # under DDP the other processes train and leave the files to rank 0
    if primary:
        record(run_dir, cfg.to_dict(), data_path)
        if rejects:
            write_rejects(run_dir / "rejects.csv", rejects)
    targets = list(cfg.targets)
    cv = len(splits) > 1
    tokenizer = prior[2] if prior else cfg.tokenizer
    tok = get_tokenizer(tokenizer)
    vocab_rows = range(len(smiles)) if cv else splits[0][0]  # one vocabulary for all fold models (tokens only)
    token_lists = [tok.tokenize(smiles[i]) for i in vocab_rows]
    if cfg.augment:  # random spellings write tokens the canonical ones lack (@ for @@, higher ring-closure digits)
        token_lists += [tok.tokenize(s) for i in vocab_rows for s in chem.spellings(smiles[i], 5, cfg.seed)[1:]]
    added: list[str] = []
    if prior:
        vocab, added = transfer_vocabulary(prior[1], token_lists)
    else:
        vocab = Vocabulary.build(token_lists)
    members, scalings, fold_metrics, infos = [], [], [], []
    oof = np.full(Y.shape, np.nan)
    fold_of = np.full(len(smiles), -1)
    max_tokens = 0
    for k, (tr, va, te) in enumerate(splits):
        if cv and verbose:
            print(f"fold {k + 1}/{len(splits)}: {len(tr):,} train, {len(va):,} validation, {len(te):,} test",
                  flush=True)
        preds, member_infos = [], []
        for m in range(cfg.ensemble):
            version = "/".join(([f"fold{k + 1}"] if cv else []) + ([f"member{m + 1}"] if cfg.ensemble > 1 else []))
            model, mean, std, pred, info = _fit(cfg, run_dir / "log", version, smiles, Y, tr, va, te, tok, vocab,
                                                prior, verbose, member=m)
            members.append(model)
            scalings.append((mean, std))
            preds.append(pred)
            max_tokens = max(max_tokens, info.pop("max_tokens"))
            member_infos.append(info)
        pred = np.mean(preds, axis=0)  # the ensemble's prediction: the mean of its members' (in units)
        oof[te], fold_of[te] = pred, k
        fold_metrics.append({t: regression_metrics(Y[te][:, j], pred[:, j]) for j, t in enumerate(targets)})
        infos.append(ensemble_info(member_infos))
    if not primary:  # under DDP, rank 0 writes the metrics and the model
        return {}
    run = {"train": len(splits[0][0]), "val": len(splits[0][1]), "test": len(splits[0][2]),
           "rejected": len(rejects), "split": cfg.split, "precision": cfg.precision, "recipe": cfg.recipe,
           **infos[0]}
    if prior:
        run.update({"init_from": cfg.init_from, "freeze_encoder": cfg.freeze_encoder, "tokens_added": added})
    if cfg.ensemble > 1:
        run["ensemble"] = cfg.ensemble
    if not cv:
        metrics = {**fold_metrics[0], "_run": run}
    else:
        metrics = cv_metrics(fold_metrics, targets, Y, oof)
        for key in ("train", "val", "test", "epochs", "best_epoch", "best_val_loss", "members"):
            run.pop(key, None)
        run.update({"folds": len(splits), "seconds": round(sum(i["seconds"] for i in infos), 1),
                    "per_fold": [{"train": len(tr), "val": len(va), "test": len(te), **i}
                                 for (tr, va, te), i in zip(splits, infos)],
                    "oof": "oof.csv"})
        metrics["_run"] = run
        write_oof(run_dir / "oof.csv", smiles, Y, oof, fold_of, targets)
    if len(members) == 1:
        model, (mean, std) = members[0], scalings[0]
        scaling = {"mean": mean.tolist(), "std": std.tolist()}
    else:  # fold-major: fold 1's members, then fold 2's …
        model = PropertyEnsemble(members)
        scaling = {"mean": [m.tolist() for m, _ in scalings], "std": [s.tolist() for _, s in scalings]}
    config = cfg.to_dict()
    config.update({k: getattr(model.config, k) for k in ARCHITECTURE}, tokenizer=tokenizer)  # as built
    training = {"seed": cfg.seed, "data": str(data_path), "config": config, "metrics": metrics,
                "max_tokens": int(max_tokens) - 2,  # without <bos>/<eos>
                "versions": versions(), "hardware": hardware()}
    trained_on = sorted({smiles[i] for tr, _, _ in splits for i in tr})  # every member's training rows
    training["training_set"] = {"file": "training_set.safetensors", "molecules": len(trained_on),
                                "hash": "64-bit BLAKE2b of the canonical SMILES"}
    save_property_model(run_dir / "model", model, vocab, tokenizer, scaling, training, training_smiles=trained_on)
    write_json(run_dir / "metrics.json", metrics)
    return metrics


MEMBER_ONLY = ("epochs", "best_epoch", "best_val_loss")  # each member stops on its own: no one value for the ensemble


def ensemble_info(member_infos: list[dict]) -> dict:
    """A split's run info: its one model's, or for an ensemble what its members share, their summed seconds and
    each member's info under ``members`` (where their own epochs, best epoch and best validation loss are)."""
    if len(member_infos) == 1:
        return member_infos[0]
    shared = {k: v for k, v in member_infos[0].items() if k not in MEMBER_ONLY}
    return {**shared, "seconds": round(sum(i["seconds"] for i in member_infos), 1), "members": member_infos}


def cv_metrics(fold_metrics: list[dict], targets: list[str], Y: np.ndarray, oof: np.ndarray) -> dict:
    """Per target: the mean over folds of RMSE, MAE and R² (the headline), their standard deviation over folds
    (``RMSE_sd`` …), each fold's metrics and the metrics of all out-of-fold predictions pooled (``pooled``)."""
    out = {}
    for j, t in enumerate(targets):
        per = [f[t] for f in fold_metrics]
        m = {name: float(np.mean([p[name] for p in per])) for name in ("RMSE", "MAE", "R2")}
        m.update({f"{name}_sd": float(np.std([p[name] for p in per], ddof=1)) if len(per) > 1 else 0.0
                  for name in ("RMSE", "MAE", "R2")})
        m["n"] = int(sum(p["n"] for p in per))
        m["folds"] = per
        m["pooled"] = regression_metrics(Y[:, j], oof[:, j])
        out[t] = m
    return out


def write_oof(path: Path, smiles, Y, oof, fold_of, targets) -> None:
    """The out-of-fold predictions: ``row`` (0-based, among the labelled molecules), ``smiles`` (canonical),
    ``fold`` (1-based), then each target's measured value and ``{target}_pred``."""
    import csv

    with atomic_write(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["row", "smiles", "fold", *(c for t in targets for c in (t, f"{t}_pred"))])
        for i, s in enumerate(smiles):
            w.writerow([i, s, int(fold_of[i]) + 1,
                        *(f"{v:.6g}" for j in range(len(targets)) for v in (Y[i, j], oof[i, j]))])


def augmented_prediction(model, smiles, n: int, seed: int, tok, vocab) -> np.ndarray:
    """Standardized predictions ``[len(smiles), targets]``, each the mean over the canonical and ``n`` randomized
    SMILES of the molecule (test-time augmentation; ``n = 0``: the canonical SMILES only). A canonical SMILES with
    tokens outside the vocabulary reads them as ``<unk>`` (as validation does); a random spelling with such tokens
    is replaced by the canonical one (:func:`~chemrnn.batching.spelled_ids`)."""
    ids = spelled_ids(smiles, n, seed, tok, vocab)
    z = by_length(model, ids, len(model.config.targets), vocab.pad_id, 512)
    return z.reshape(len(smiles), 1 + n, -1).mean(1)  # n >= 0: the config refuses less


def _fit(cfg, log_dir: Path, version: str, smiles, Y, tr, va, te, tok, vocab, prior, verbose: bool,
         member: int = 0):
    """One model on ``tr``, early-stopped on ``va``; returns ``(model, mean, std, test predictions in units,
    run info)``. Ensemble member ``m >= 1`` is seeded ``cfg.seed + m`` (weights, spellings, batch order); the
    test predictions read the spellings of ``cfg.seed``, as the saved model's do."""
    import time

    from ..models.property import PropertyConfig, PropertyModel

    seed = cfg.seed + member
    if member:
        seed_everything(seed)
    targets = list(cfg.targets)
    mean, std = Y[tr].mean(0), Y[tr].std(0) + 1e-8
    Z = (Y - mean) / std
    sets = {name: Encoded([smiles[i] for i in idx], Z[idx], tok, vocab, bool(cfg.augment) and name == "train",
                          seed)
            for name, idx in (("train", tr), ("val", va), ("test", te))}
    arch = {k: getattr(cfg, k) for k in ARCHITECTURE}
    if prior:
        arch.update(prior_architecture(prior[0]))
    model = PropertyModel(PropertyConfig(len(vocab), targets, impl=cfg.impl, dropout=cfg.dropout,
                                         pad_id=vocab.pad_id, **arch))
    if prior:
        init_encoder_from(model, prior[0], cfg.freeze_encoder)

    def loader(name, shuffle):
        lengths = [len(x) for x in sets[name].fixed]
        sampler = (RankBuckets(lengths, cfg.batch_size, seed, world) if shuffle
                   else BucketBatchSampler(lengths, 512, shuffle=False))
        return torch.utils.data.DataLoader(sets[name], batch_sampler=sampler, collate_fn=_collate)

    best = BestWeights("val_loss")
    timing = Timing(cfg.max_minutes)
    callbacks = [timing, best, L.pytorch.callbacks.EarlyStopping("val_loss", patience=cfg.patience)]
    if verbose:
        callbacks.append(progress_bar())
    log_dir.parent.mkdir(parents=True, exist_ok=True)
    logger = L.pytorch.loggers.CSVLogger(str(log_dir.parent), name="",
                                         version=f"{log_dir.name}/{version}" if version else log_dir.name)
    trainer = make_lightning_trainer(cfg, callbacks, verbose, 1.0, max_epochs=cfg.max_epochs, logger=logger,
                                     log_every_n_steps=50, enable_checkpointing=False)
    world = trainer.world_size
    train_loader = loader("train", True)
    per_epoch = len(train_loader)
    trainer.log_every_n_steps = max(1, min(50, per_epoch))
    module = PropertyModule(model, cfg.to_dict(), total_steps=cfg.max_epochs * max(1, per_epoch))
    t0 = time.perf_counter()
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=loader("val", False))
    seconds = time.perf_counter() - t0
    best.restore(module)
    model.eval()
    model.cpu()
    pred = augmented_prediction(model, [smiles[i] for i in te], cfg.augment, cfg.seed, tok, vocab) * std + mean
    info = {"epochs": trainer.current_epoch, "best_epoch": best.epoch, "best_val_loss": best.best,
            "seconds": round(seconds, 1), "max_tokens": int(max(len(x) for x in sets["train"].fixed))}
    return model, mean, std, pred, info
