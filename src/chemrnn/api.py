"""The Python API behind the CLI's model commands (``chemrnn lm ...``)."""
from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

from . import chem
from .errors import InputError

PRIOR_NAME = "prior_moses.chemrnn"


def shipped_prior() -> Path:
    """The language model shipped inside the package (trained on MOSES train)."""
    p = Path(str(resources.files("chemrnn") / "data" / PRIOR_NAME))
    if not p.exists():
        raise InputError(f"no shipped prior in this installation ({p}); pass a model path")
    return p


def load_lm(model=None, impl: str = "fused", device: str = "cpu"):
    from .models.language import load_language_model
    from .tokens import get_tokenizer

    path = Path(model) if model else shipped_prior()
    m, vocab, tok_name, meta = load_language_model(path, impl=impl, device=device)
    return m, vocab, get_tokenizer(tok_name), meta


def sample_smiles(model=None, n: int = 1000, temperature: float = 1.0, batch_size: int = 1024,
                  max_length: int = 140, seed: int = 0, device: str = "cpu", valid_only: bool = False,
                  unique_only: bool = False, progress=None) -> dict:
    """Sample ``n`` strings; return them with validity/uniqueness counts and the strings to write."""
    from .sample import sample

    m, vocab, tok, _ = load_lm(model, device=device)
    t0 = time.perf_counter()
    s = sample(m, vocab, tok, n, temperature, batch_size, max_length, seed, device, progress)
    seconds = time.perf_counter() - t0
    canon = [chem.canonical_or_none(x) for x in s.smiles]
    valid = [c for c in canon if c is not None]
    written, seen = [], set()
    for raw, c in zip(s.smiles, canon):
        if valid_only or unique_only:
            if c is None:
                continue
            if unique_only and c in seen:
                continue
            seen.add(c)
            written.append(c)
        else:
            written.append(raw)
    return {"samples": s, "written": written, "valid": len(valid), "unique": len(set(valid)),
            "unfinished": int((~s.finished).sum()), "seconds": seconds}


class Generator:
    """A GuacaMol-style distribution-learning generator: ``generate(number_samples) -> list[str]``.

    Works without guacamol installed (duck typing); wrap it in ``DistributionMatchingGenerator`` if you like.
    """

    def __init__(self, model=None, temperature: float = 1.0, seed: int = 0, device: str = "cpu"):
        self.model, self.temperature, self.seed, self.device = model, temperature, seed, device
        self._calls = 0

    def generate(self, number_samples: int) -> list[str]:
        res = sample_smiles(self.model, number_samples, self.temperature, seed=self.seed + self._calls,
                            device=self.device)
        self._calls += 1
        return res["written"]
