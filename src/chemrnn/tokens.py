"""Tokenizers (char, atom regex, SELFIES) and the :class:`Vocabulary` that maps tokens to ids.

A tokenizer never touches RDKit: it splits strings. ``detokenize(tokenize(s)) == s`` holds for every string,
because every character is covered (unrecognised characters become one-character tokens).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .errors import InputError, UnknownTokenError
from .io import atomic_write

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)

# Atom-level SMILES tokens (after Schwaller et al. 2019): a bracket atom is one token; Cl and Br are one
# token; a two-digit ring closure %nn is one token; anything else is one character. Two-letter organic
# symbols are only Cl and Br: "Sc" in "CSc1ccccc1" is S then aromatic c, never scandium.
ATOM_PATTERN = re.compile(r"\[[^\[\]]*\]|Br|Cl|%\d\d|.", re.DOTALL)


class Tokenizer:
    """Split a string into tokens and join them back. A tokenizer equals another of its kind and its own name
    (``AtomTokenizer() == "atom"``), and prints as its name, so a model file's tokenizer name and the tokenizer
    built from it compare and record alike."""

    name = "base"

    def __eq__(self, other) -> bool:
        if isinstance(other, Tokenizer):
            return type(self) is type(other)
        return isinstance(other, str) and other == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def tokenize(self, text: str) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def detokenize(self, tokens: Iterable[str]) -> str:
        return "".join(t for t in tokens if t not in SPECIALS)


class CharTokenizer(Tokenizer):
    """One token per character, as in the lecture's char-level language model."""

    name = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text)


class AtomTokenizer(Tokenizer):
    """Atom-level SMILES tokens: bracket atoms, Cl/Br, %nn ring closures, single characters."""

    name = "atom"

    def tokenize(self, text: str) -> list[str]:
        return ATOM_PATTERN.findall(text)


class SelfiesTokenizer(Tokenizer):
    """SELFIES symbols. Input and output are SMILES; the SMILES<->SELFIES conversion happens here."""

    name = "selfies"

    def __init__(self):
        import selfies  # optional dependency, imported only when asked for

        self._sf = selfies

    def tokenize(self, text: str) -> list[str]:
        try:
            encoded = self._sf.encoder(text)
        except Exception as exc:  # selfies raises EncoderError for unsupported chemistry
            raise ValueError(f"cannot encode {text!r} as SELFIES: {exc}") from None
        return list(self._sf.split_selfies(encoded))

    def detokenize(self, tokens: Iterable[str]) -> str:
        return self._sf.decoder("".join(t for t in tokens if t not in SPECIALS))


TOKENIZERS = {"char": CharTokenizer, "atom": AtomTokenizer, "selfies": SelfiesTokenizer}


def get_tokenizer(name: "str | Tokenizer") -> Tokenizer:
    """The tokenizer of a name (``atom``, ``char``, ``selfies``); a tokenizer is returned as it is."""
    if isinstance(name, Tokenizer):
        return name
    try:
        return TOKENIZERS[name]()
    except KeyError:
        raise InputError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}") from None


@dataclass
class Vocabulary:
    """Token <-> id map with the special tokens first: <pad>=0, <bos>=1, <eos>=2, <unk>=3."""

    tokens: list[str] = field(default_factory=lambda: list(SPECIALS))

    def __post_init__(self):
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with the special tokens {SPECIALS}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("duplicate tokens in vocabulary")
        self.index = {t: i for i, t in enumerate(self.tokens)}

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 1) -> "Vocabulary":
        """Vocabulary of every token seen at least ``min_count`` times, in a deterministic (sorted) order."""
        counts: Counter = Counter()
        for toks in token_lists:
            counts.update(toks)
        kept = sorted(t for t, c in counts.items() if c >= min_count and t not in SPECIALS)
        return cls(list(SPECIALS) + kept)

    def extended(self, token_lists: Iterable[Sequence[str]]) -> tuple["Vocabulary", list[str]]:
        """This vocabulary with the tokens of ``token_lists`` it lacks appended (sorted): every id it has stays
        the same, so a model's rows for them copy over one for one. Returns ``(vocabulary, added tokens)``."""
        seen = Vocabulary.build(token_lists)
        added = [t for t in seen.tokens if t not in self]
        return Vocabulary(list(self.tokens) + added), added

    def unknown_in(self, token_lists: Iterable[Sequence[str]], texts: Iterable[str] | None = None
                   ) -> tuple[Counter, dict[str, str]]:
        """Count tokens not in the vocabulary (with one example text each): the up-front check."""
        unknown: Counter = Counter()
        examples: dict[str, str] = {}
        texts = iter(texts) if texts is not None else None
        for toks in token_lists:
            text = next(texts) if texts is not None else "".join(toks)
            for t in toks:
                if t not in self.index:
                    unknown[t] += 1
                    examples.setdefault(t, text)
        return unknown, examples

    def encode(self, tokens: Sequence[str], unknown: str = "error", add_bos_eos: bool = True) -> list[int]:
        """Token ids; unknown tokens raise :class:`UnknownTokenError` (``unknown='error'``) or map to <unk>."""
        idx = self.index
        if unknown == "error":
            try:
                ids = [idx[t] for t in tokens]
            except KeyError:
                bad = Counter(t for t in tokens if t not in idx)
                raise UnknownTokenError(dict(bad), {t: "".join(tokens) for t in bad}) from None
        elif unknown == "unk":
            ids = [idx.get(t, self.unk_id) for t in tokens]
        else:
            raise ValueError(f"unknown must be 'error' or 'unk', not {unknown!r}")
        return [self.bos_id, *ids, self.eos_id] if add_bos_eos else ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for ids, stopping at <eos> and skipping <bos>/<pad>."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            out.append(self.tokens[i])
        return out

    def to_dict(self) -> dict:
        return {"format": "chemrnn-vocabulary", "schema": 1, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        if data.get("format") != "chemrnn-vocabulary":
            raise InputError("not a chemrnn vocabulary (missing format: chemrnn-vocabulary)")
        if int(data.get("schema", 0)) > 1:
            raise InputError(f"vocabulary schema {data['schema']} is newer than this chemrnn understands (1)")
        return cls(list(data["tokens"]))

    def save(self, path) -> None:
        with atomic_write(path) as fh:
            json.dump(self.to_dict(), fh, indent=1)

    @classmethod
    def load(cls, path) -> "Vocabulary":
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))
