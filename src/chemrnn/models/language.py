"""The chemical language model: token embedding → stacked RNN (rnn | lstm | gru; lecture | fused) → softmax.

Trained by teacher forcing with cross-entropy (Segler et al. 2018): at every position the model predicts
the next token from the ones before it; <bos> starts a sequence and <eos> ends it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells import Recurrent, gru_reset_after
from ..datasets import resolve_model
from ..errors import InputError
from ..tokens import Vocabulary

BOS_ID, UNK_ID = Vocabulary.bos_id, Vocabulary.unk_id
NEVER = -1e9  # added to the logits of tokens that can never come next


@dataclass
class LMConfig:
    vocab_size: int
    embedding_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    cell: str = "lstm"
    impl: str = "fused"
    pad_id: int = 0
    gru_form: str = "pytorch"  # GRU only: "pytorch" (reset gate after W_hh, has a fused kernel) | "lecture" (before)

    def to_dict(self) -> dict:
        return asdict(self)


class LanguageModel(nn.Module):
    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.rnn = Recurrent(config.cell, config.embedding_dim, config.hidden_size, config.num_layers,
                             config.dropout, impl=config.impl, reset_after=gru_reset_after(config.gru_form))
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        # <pad>, <bos> and <unk> are never a next token: the softmax runs over the other tokens only, so that
        # training, likelihood and sampling use one and the same distribution (not saved with the weights)
        mask = torch.zeros(config.vocab_size)
        mask[[i for i in (config.pad_id, BOS_ID, UNK_ID) if i < config.vocab_size]] = NEVER
        self.register_buffer("never_next", mask, persistent=False)

    def grow_vocabulary(self, size: int) -> None:
        """Room for ``size`` tokens, the new ones after the old (a prior's vocabulary extended by the tokens of the
        data it continues on): their embeddings start as a fresh layer's would, their output rows at zero weight
        with the lowest bias the model has, so that a new token starts as unlikely as the rarest one it knows and
        every known token's probability barely moves."""
        old = self.config.vocab_size
        if size <= old:
            return
        embedding = nn.Embedding(size, self.config.embedding_dim, padding_idx=self.config.pad_id)
        head = nn.Linear(self.config.hidden_size, size)
        with torch.no_grad():
            embedding.weight[:old].copy_(self.embedding.weight)
            head.weight[:old].copy_(self.head.weight)
            head.bias[:old].copy_(self.head.bias)
            head.weight[old:].zero_()
            head.bias[old:].fill_(float(self.head.bias.min()))
        self.embedding, self.head = embedding.to(self.head.weight.device), head.to(self.head.weight.device)
        self.config.vocab_size = size
        mask = torch.zeros(size, device=self.never_next.device)
        mask[:old] = self.never_next
        self.never_next = mask

    def forward(self, ids: Tensor, state=None, lengths: Tensor | None = None):
        """Logits ``[batch, time, vocab]`` for the next token at each position, and the final state."""
        out, state = self.rnn(self.embedding(ids), lengths=lengths, state=state)
        return self.head(self.drop(out)) + self.never_next, state

    def token_nll(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Per-position negative log-likelihood ``[batch, time-1]`` of ``ids[:, 1:]`` (0 at padding)."""
        logits, _ = self.forward(ids[:, :-1])
        target = ids[:, 1:]
        nll = F.cross_entropy(logits.transpose(1, 2), target, reduction="none", ignore_index=self.config.pad_id)
        return nll

    def loss(self, ids: Tensor) -> Tensor:
        """Mean cross-entropy per real (non-pad) target token: the teacher-forcing objective."""
        nll = self.token_nll(ids)
        mask = ids[:, 1:] != self.config.pad_id
        return nll.sum() / mask.sum().clamp(min=1)

    def sequence_nll(self, ids: Tensor) -> Tensor:
        """Negative log-likelihood of each whole sequence (sum over its tokens, <eos> included)."""
        return self.token_nll(ids).sum(dim=1)


def save_language_model(path, model: LanguageModel, vocabulary, tokenizer: str, training: dict | None = None):
    """Save a language model as safetensors + JSON (see :mod:`chemrnn.models.modelfile`)."""
    from . import modelfile

    cfg = model.config.to_dict()
    cfg.pop("impl", None)  # the same weights run with either impl; chosen at load time
    if cfg.get("gru_form") == "pytorch":
        cfg.pop("gru_form")  # the default: files stay as they were (an absent key means PyTorch's GRU form)
    return modelfile.save(path, model.state_dict(), {"kind": "language", "config": cfg,
                                                     "vocabulary": vocabulary.to_dict(), "tokenizer": tokenizer,
                                                     "training": training or {}})


def needs_lecture_cells(meta: dict) -> bool:
    """Whether a language model file's network has no fused kernel: a GRU in the lecture's form (reset gate before
    the recurrent product)."""
    config = meta.get("config", {})
    return config.get("cell") == "gru" and config.get("gru_form", "pytorch") != "pytorch"


@dataclass
class LoadedModel:
    """A model read from its file: the network, its vocabulary, its tokenizer (a :class:`~chemrnn.tokens.Tokenizer`,
    equal to its name) and the file's metadata. It unpacks as ``model, vocabulary, tokenizer, meta``."""

    model: nn.Module
    vocabulary: object
    tokenizer: object
    meta: dict

    def __iter__(self):
        return iter((self.model, self.vocabulary, self.tokenizer, self.meta))

    def __getitem__(self, i: int):
        return (self.model, self.vocabulary, self.tokenizer, self.meta)[i]


def load_language_model(path, impl: str = "fused", device: str = "cpu") -> LoadedModel:
    """Load a language model (:class:`LoadedModel`: model, vocabulary, tokenizer, meta); ``impl`` picks lecture
    cells or fused kernels; ``path`` may name a shipped model (``shipped`` = ``moses``, ``chembl``)."""
    from ..tokens import Vocabulary, get_tokenizer
    from . import modelfile

    path = resolve_model(path, "language")
    state, meta = modelfile.load(path)
    if meta.get("kind") != "language":
        raise InputError(f"is a {meta.get('kind')} model, not a language model", path)
    if needs_lecture_cells(meta) and impl == "fused":
        raise InputError("this GRU uses the lecture's form (reset gate before the recurrent product), which has no "
                         "fused kernel: load it with impl='lecture'", path)
    model = LanguageModel(LMConfig(**{**meta["config"], "impl": impl}))
    modelfile.load_state(model, state, path)
    return LoadedModel(model.to(device).eval(), Vocabulary.from_dict(meta["vocabulary"]),
                       get_tokenizer(meta["tokenizer"]), meta)


def load_lm(model=None, impl: str = "fused", device: str = "cpu"):
    """A language model with its vocabulary, tokenizer and file metadata (:class:`~chemrnn.models.language.LoadedModel`,
    which unpacks as ``model, vocabulary, tokenizer, meta``); ``None`` is the shipped prior. A model already loaded
    (a :class:`~chemrnn.models.language.LoadedModel`) is used as it is (a server keeps its models loaded)."""
    if isinstance(model, LoadedModel):
        return model
    return load_language_model(model, impl=impl, device=device)
