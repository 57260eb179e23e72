"""The agent of a design run: a chemical language model that samples molecules, gives their log-likelihood with
gradients (for reinforcement learning) and can be fine-tuned on a set of SMILES (for hill-climbing and Segler's
cycle)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import decorate
from ..batching import collate
from ..sample import sample


@dataclass
class Batch:
    """Sampled molecules: the strings, their token ids ``[n, T]`` (<bos> … <eos>, padded) and which ended."""

    smiles: list[str]
    ids: torch.Tensor
    finished: np.ndarray


class Agent:
    def __init__(self, model, vocabulary, tokenizer, device: str = "cpu", max_length: int = 140):
        self.model, self.vocabulary, self.tokenizer = model.to(device), vocabulary, tokenizer
        self.device, self.max_length = device, max_length
        self.template, self.query = None, None  # a fixed core: what every sample is built around

    def constrain(self, constraints: dict) -> None:
        """Sample only molecules around a fixed core (``{"core": …}``) or joining two fragments (``{"link": [a,
        b]}``): :mod:`chemrnn.decorate`."""
        if "core" in constraints:
            self.template, self.query = decorate.decoration_template(constraints["core"], self.vocabulary,
                                                                     self.tokenizer)
        elif "link" in constraints:
            self.template, self.query = decorate.linker_template(*constraints["link"], self.vocabulary,
                                                                 self.tokenizer)

    def sample(self, n: int, seed: int, temperature: float = 1.0) -> Batch:
        if self.template is not None:
            return self._sample_around_core(n, seed, temperature)
        s = sample(self.model, self.vocabulary, self.tokenizer, n, temperature=temperature, batch_size=n,
                   max_length=self.max_length, seed=seed, device=self.device)
        v = self.vocabulary
        seqs = [np.array([v.bos_id, *t] + ([v.eos_id] if f else [])) for t, f in zip(s.token_ids, s.finished)]
        ids, _ = collate(seqs, v.pad_id)
        smiles = [x if f else "" for x, f in zip(s.smiles, s.finished)]  # an unfinished string is no molecule
        return Batch(smiles, ids, s.finished)

    def _sample_around_core(self, n: int, seed: int, temperature: float) -> Batch:
        """Strings built around the core; one that is no molecule, or lost the core, stands as an empty string (it
        scores 0); the ids are those of the strings written (core tokens and <eos> included)."""
        v = self.vocabulary
        raw, _ = decorate.decorate(self.model, v, self.tokenizer, self.template, n, temperature=temperature, batch_size=n,
                                   max_length=self.max_length, seed=seed, device=self.device)
        checked, _ = decorate.check(raw, self.query)
        seqs = [np.array(v.encode(self.tokenizer.tokenize(r))) if r else np.array([v.bos_id]) for r in raw]
        ids, _ = collate(seqs, v.pad_id)
        finished = np.array([r is not None for r in raw])
        smiles = [r if r is not None and c is not None else "" for r, c in zip(raw, checked)]
        return Batch(smiles, ids, finished)

    def log_likelihood(self, ids: torch.Tensor) -> torch.Tensor:
        """log P(sequence) of each row (sum over its tokens and <eos>), with gradients."""
        return -self.model.sequence_nll(ids.to(self.device))

    def can_spell(self, smiles: str) -> bool:
        """Whether every token of ``smiles`` is in the vocabulary."""
        return all(t in self.vocabulary for t in self.tokenizer.tokenize(smiles))

    def encode(self, smiles: list[str]) -> torch.Tensor | None:
        """Token ids of SMILES the vocabulary can spell (others are dropped); None when none can."""
        v, tok = self.vocabulary, self.tokenizer
        seqs = []
        for s in smiles:
            tokens = tok.tokenize(s)
            if all(t in v for t in tokens):
                seqs.append(np.array(v.encode(tokens)))
        return collate(seqs, v.pad_id)[0] if seqs else None

    def finetune(self, smiles: list[str], optimizer, epochs: int, batch_size: int, seed: int) -> float:
        """Teacher-forcing epochs over ``smiles`` (shuffled, seeded); returns the last epoch's mean loss."""
        ids = self.encode(smiles)
        if ids is None:
            return float("nan")
        rng = np.random.default_rng(seed)
        self.model.train()
        losses = []
        for _ in range(epochs):
            losses = []
            order = rng.permutation(len(ids))
            for start in range(0, len(ids), batch_size):
                batch = ids[torch.from_numpy(order[start: start + batch_size])]
                batch = batch[:, : int((batch != self.vocabulary.pad_id).sum(1).max())]  # trim common padding
                loss = self.model.loss(batch.to(self.device))
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                optimizer.step()
                losses.append(loss.item())
        self.model.eval()
        return float(np.mean(losses)) if losses else float("nan")
