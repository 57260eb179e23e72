"""Property prediction from SMILES (the lecture's practice session): tokens → (bi)RNN → pooling → MLP heads.

``PropertyModel`` regresses several targets at once (multitask) on standardized targets; ``embed`` returns the
pooled vector, the "feature extraction of molecules using RNN". The recurrent part is the package's
:class:`~chemrnn.cells.Recurrent`, so ``cell = rnn | lstm | gru`` and ``impl = lecture | fused`` apply here too.

Poolings: ``last`` (final hidden state), ``mean`` (average over tokens), ``attention`` (learned softmax weights)
and ``sum``, an additive read-out: the MLP's hidden layer is applied to every token's state and summed, so the
prediction is a sum of per-token contributions. That is the form of the labels themselves: Crippen logP and TPSA
are sums of atom contributions that depend on each atom's neighbourhood (Wildman & Crippen 1999; Ertl 2000),
and a bidirectional RNN state is exactly such a neighbourhood-aware atom feature.

Padding: batches are padded at the end and a forward recurrence is causal, so the states at real positions do
not depend on the padding; the backward direction runs on each sequence reversed within its own length. No
packing is needed (packing halves the speed of the fused CPU kernels).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells import Recurrent
from ..datasets import resolve_model
from ..errors import InputError
from ..options import POOLINGS
from .language import LoadedModel


@dataclass
class PropertyConfig:
    vocab_size: int
    targets: list = field(default_factory=lambda: ["logP", "TPSA"])
    embedding_dim: int = 64  # 0: one-hot input, as in the course's original model
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = False
    cell: str = "gru"
    impl: str = "fused"
    pooling: str = "mean"
    mlp_hidden: int = 256
    dropout: float = 0.0
    pad_id: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence within its own length (padding stays at the end)."""
    B, T = x.shape[:2]
    idx = torch.arange(T, device=x.device)[None, :].expand(B, T)
    rev = (lengths.to(x.device)[:, None] - 1 - idx)
    rev = torch.where(rev >= 0, rev, idx)  # padding positions map to themselves
    return x.gather(1, rev[:, :, None].expand_as(x)) if x.dim() == 3 else x.gather(1, rev)


class PropertyModel(nn.Module):
    def __init__(self, config: PropertyConfig):
        super().__init__()
        if config.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}")
        self.config = config
        c = config
        inp = c.embedding_dim or c.vocab_size
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.pad_id) if c.embedding_dim else None
        self.rnn = Recurrent(c.cell, inp, c.hidden_size, c.num_layers, c.dropout, impl=c.impl)
        self.rnn_back = (Recurrent(c.cell, inp, c.hidden_size, c.num_layers, c.dropout, impl=c.impl)
                         if c.bidirectional else None)
        width = c.hidden_size * (2 if c.bidirectional else 1)
        self.attention = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1)) \
            if c.pooling == "attention" else None
        self.mlp = nn.Sequential(nn.Linear(width, c.mlp_hidden), nn.ReLU(), nn.Dropout(c.dropout),
                                 nn.Linear(c.mlp_hidden, len(c.targets)))

    def _inputs(self, ids: Tensor) -> Tensor:
        if self.embedding is not None:
            return self.embedding(ids)
        return F.one_hot(ids, self.config.vocab_size).float()

    @property
    def embedding_width(self) -> int:
        """Length of the vector ``embed`` returns."""
        if self.config.pooling == "sum":
            return self.config.mlp_hidden
        return self.config.hidden_size * (2 if self.config.bidirectional else 1)

    def states(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-token states ``[batch, time, width]``, the final states ``[batch, width]`` and the token mask."""
        x = self._inputs(ids)
        lengths = lengths.to(x.device)
        last = (lengths - 1).clamp(min=0)[:, None, None]
        out, _ = self.rnn(x)  # causal: states at real positions ignore the trailing padding
        outs, lasts = [out], [out.gather(1, last.expand(-1, 1, out.shape[-1])).squeeze(1)]
        if self.rnn_back is not None:
            back, _ = self.rnn_back(reverse_padded(x, lengths))
            outs.append(reverse_padded(back, lengths))
            lasts.append(back.gather(1, last.expand(-1, 1, back.shape[-1])).squeeze(1))
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        return torch.cat(outs, dim=-1), torch.cat(lasts, dim=-1), mask

    def embed(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """One fixed-length vector per molecule: the pooled recurrent states (for ``sum``: the summed per-token
        hidden features of the read-out, a learned count fingerprint)."""
        out, last, mask = self.states(ids, lengths)
        m = mask[:, :, None].to(out.dtype)
        pooling = self.config.pooling
        if pooling == "last":
            return last
        if pooling == "mean":
            return (out * m).sum(1) / m.sum(1).clamp(min=1)
        if pooling == "sum":
            with torch.autocast(out.device.type, enabled=False):
                return (self.mlp[:3](out.float()) * m.float()).sum(1)
        scores = self.attention(out).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return (weights[:, :, None] * out).sum(1)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Standardized predictions ``[batch, targets]``; the read-out runs in float32 even under autocast."""
        z = self.embed(ids, lengths)
        with torch.autocast(z.device.type, enabled=False):
            z = z.float()
            return self.mlp[3:](z) if self.config.pooling == "sum" else self.mlp(z)


class PropertyEnsemble(nn.Module):
    """K property models of one architecture and vocabulary (the fold models of a cross-validation, or several
    seeds on one split — fold-major when both), each with its own target scaling. ``forward`` returns every
    member's standardized outputs side by side,
    ``[batch, K * targets]`` (member-major); the predictor turns them into units and takes their mean and spread.
    ``embed`` is the first member's (the members' vectors live in different spaces and are not averaged)."""

    def __init__(self, members: list[PropertyModel]):
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble has at least 2 members")
        self.members = nn.ModuleList(members)
        self.config = members[0].config

    def __len__(self) -> int:
        return len(self.members)

    @property
    def embedding_width(self) -> int:
        return self.members[0].embedding_width

    def embed(self, ids: Tensor, lengths: Tensor) -> Tensor:
        return self.members[0].embed(ids, lengths)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        return torch.cat([m(ids, lengths) for m in self.members], dim=-1)


def save_property_model(path, model: PropertyModel | PropertyEnsemble, vocabulary, tokenizer: str, scaling: dict,
                        training: dict | None = None, training_smiles=None):
    """Save a property model as safetensors + JSON (see :mod:`chemrnn.models.modelfile`); ``scaling`` holds the
    targets' training mean and standard deviation, which turn standardized outputs back into units.

    An ensemble (schema 2) is one file: its members' weights under ``members.{i}.``, ``"ensemble": {"members": K}``
    and a scaling of ``K`` rows (one per member, from each member's own training rows). ``training_smiles``: the
    canonical SMILES trained on, recorded as hashes beside the weights (:func:`modelfile.molecule_hashes`), so that
    an evaluation can say how much of its data the model was trained on."""
    from . import modelfile

    cfg = {k: v for k, v in model.config.to_dict().items() if k != "impl"}  # impl is chosen at load time
    meta = {"kind": "property", "config": cfg, "vocabulary": vocabulary.to_dict(), "tokenizer": tokenizer,
            "targets": list(model.config.targets), "scaling": scaling, "training": training or {}}
    if isinstance(model, PropertyEnsemble):
        meta = {"schema": 2, **meta, "ensemble": {"members": len(model)}}
    hashes = None if training_smiles is None else modelfile.molecule_hashes(training_smiles)
    return modelfile.save(path, model.state_dict(), meta, training_set=hashes)


def _ensemble_size(meta: dict, path) -> int:
    """Members of the model file (1 for a single model), its scaling checked against it: a bad file is refused
    with one line naming it."""
    targets = len(meta.get("targets") or [])
    ens = meta.get("ensemble")
    k = 1
    if ens is not None:
        k = ens.get("members") if isinstance(ens, dict) else None
        if not isinstance(k, int) or isinstance(k, bool) or k < 2:
            raise InputError(f"bad ensemble entry in model.json ({str(ens)[:60]}): members must be a whole number "
                             f"of at least 2", path)
    scaling = meta.get("scaling") or {}
    try:
        shapes = {name: np.asarray(scaling[name], dtype=float).shape for name in ("mean", "std")}
    except (KeyError, TypeError, ValueError):
        raise InputError("model.json has no readable scaling (mean and std)", path) from None
    want = (targets,) if ens is None else (k, targets)
    if any(s != want for s in shapes.values()):
        raise InputError(f"scaling of shape {shapes['mean']} does not fit {k} member(s) × {targets} target(s)", path)
    return k


def load_property_model(path, impl: str = "fused") -> LoadedModel:
    """Load a property model (:class:`~chemrnn.models.language.LoadedModel`: model, vocabulary, tokenizer, meta); ``shipped`` names the packaged model. An
    ensemble file gives a :class:`PropertyEnsemble`."""
    from dataclasses import fields

    from ..tokens import Vocabulary, get_tokenizer
    from . import modelfile

    path = resolve_model(path, "property")
    state, meta = modelfile.load(path)
    if meta.get("kind") != "property":
        raise InputError(f"is a {meta.get('kind')} model, not a property model", path)
    n_members = _ensemble_size(meta, path)
    known = {f.name for f in fields(PropertyConfig)}
    try:
        config = PropertyConfig(**{k: v for k, v in meta["config"].items() if k in known}, impl=impl)
        members = [PropertyModel(config) for _ in range(n_members)]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"model.json describes no property model this chemrnn can build ({exc})", path) from None
    model = members[0] if n_members == 1 else PropertyEnsemble(members)
    modelfile.load_state(model, state, path)
    model.eval()
    return LoadedModel(model, Vocabulary.from_dict(meta["vocabulary"]), get_tokenizer(meta["tokenizer"]), meta)
