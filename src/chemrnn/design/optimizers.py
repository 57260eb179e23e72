"""Three ways to steer a chemical language model towards a scoring function, one step at a time.

- :class:`SeglerCycle` — Segler et al. 2018, "simulating the design cycle": sample, score, fine-tune the model on
  the molecules that pass (score ≥ ``threshold``, else the round's best ``top_k``), repeat.
- :class:`HillClimb` — the SMILES-LSTM hill-climber of GuacaMol's baselines (Brown et al. 2019): keep the best
  ``top_k`` of everything seen so far, fine-tune on them, sample again. Two departures, on by default: molecules
  scoring 0 stay out of the pool, and a pool smaller than ``top_k`` is repeated (``min_score = -1, fill = false``
  is GuacaMol's own).
- :class:`Reinvent` — REINVENT (Olivecrona et al. 2017; Blaschke et al. 2020): policy learning towards the augmented
  likelihood ``log P_aug(x) = log P_prior(x) + σ·S(x)``, loss ``(log P_aug − log P_agent)²``, anchored to the
  frozen prior; experience replay of the best molecules so far; a diversity filter against mode collapse.

Each ``step(k, batch, canonical, scores)`` updates the agent from one sampled batch and its (filtered) scores;
``state()`` and ``restore()`` carry what a resumed run needs besides the weights (replay buffer, top-k pool) as JSON.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import validate as v
from ..errors import InputError

# what each option's value must be; an option not named here is any finite number
RULES = {
    "lr": v.positive(),
    "sigma": v.positive(),
    "top_k": v.integer(1),
    "epochs": v.integer(1),
    "batch_size": v.integer(1),
    "replay_size": v.integer(0),
    "replay_batch": v.integer(0),
    "fill": v.flag(),
}


class Optimizer:
    name = ""
    defaults: dict = {}
    needs_prior = False  # whether it is given a frozen copy of the prior (an Agent) beside the agent

    @classmethod
    def rules(cls) -> dict[str, v.Rule]:
        """The rule of each of this optimizer's options (``[design.<optimizer>]``)."""
        return {key: RULES.get(key, v.number()) for key in cls.defaults}

    @classmethod
    def check_options(cls, options: dict) -> None:
        """Refuse unknown keys and values out of range (``[design.<optimizer>]``), before any work."""
        found = v.table_problems(options, cls.rules(), f"[design.{cls.name}] ")
        if found:
            raise InputError("; ".join(found))

    def __init__(self, agent, prior=None, **options):
        self.check_options(options)
        self.opt = {**self.defaults, **options}
        self.agent, self.prior = agent, prior
        self.optimizer = torch.optim.Adam(agent.model.parameters(), lr=float(self.opt["lr"]))

    def step(self, k: int, batch, canonical: list, scores: np.ndarray) -> dict:
        raise NotImplementedError

    def state(self) -> dict:
        return {}

    def restore(self, state: dict) -> None:
        pass


def _best(pairs: dict[str, float], k: int) -> list[tuple[str, float]]:
    return sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


class SeglerCycle(Optimizer):
    name = "segler"
    defaults = {"lr": 5e-4, "threshold": 0.5, "top_k": 100, "epochs": 2, "batch_size": 64}

    def step(self, k, batch, canonical, scores):
        found = {c: float(s) for c, s in zip(canonical, scores) if c is not None}
        chosen = [c for c, s in found.items() if s >= self.opt["threshold"]]
        if not chosen:
            chosen = [c for c, _ in _best(found, self.opt["top_k"])]
        loss = self.agent.finetune(chosen, self.optimizer, self.opt["epochs"], self.opt["batch_size"], seed=k)
        return {"loss": loss, "trained_on": len(chosen)}


class HillClimb(Optimizer):
    """The pool holds the best ``top_k`` molecules seen that score above ``min_score`` (a molecule scoring 0 says
    nothing about the objective: with a sparse objective, a pool padded with zeros would teach the prior back to
    the model). With ``fill``, a pool smaller than ``top_k`` is repeated up to ``top_k`` molecules an epoch, so that
    the first hits pull the model as hard as a full pool would (the last, partial copy holds the best of the pool);
    an empty pool leaves the model as it is. Molecules the agent's vocabulary cannot spell stay out of the pool."""

    name = "hillclimb"
    defaults = {"lr": 5e-4, "top_k": 512, "epochs": 1, "batch_size": 128, "min_score": 0.0, "fill": True}

    def __init__(self, agent, prior=None, **options):
        super().__init__(agent, prior, **options)
        self.pool: dict[str, float] = {}

    def _add(self, smiles, scores) -> None:
        for c, s in zip(smiles, scores):
            if c is None or float(s) <= self.opt["min_score"]:
                continue
            if c in self.pool:
                self.pool[c] = max(float(s), self.pool[c])
            elif self.agent.can_spell(c):
                self.pool[c] = float(s)
        self.pool = dict(_best(self.pool, self.opt["top_k"]))

    def seed_population(self, smiles: list[str], scores: np.ndarray) -> None:
        """A starting population (e.g. the best known molecules): part of the pool from the first step."""
        self._add(smiles, scores)

    def training_set(self) -> list[str]:
        """The pool in score order, repeated up to ``top_k`` molecules when ``fill`` is on."""
        names = list(self.pool)
        if self.opt["fill"] and names:
            names = (names * -(-int(self.opt["top_k"]) // len(names)))[: int(self.opt["top_k"])]
        return names

    def step(self, k, batch, canonical, scores):
        self._add(canonical, scores)
        if not self.pool:
            return {"loss": float("nan"), "trained_on": 0}
        loss = self.agent.finetune(self.training_set(), self.optimizer, self.opt["epochs"], self.opt["batch_size"],
                                   seed=k)
        return {"loss": loss, "trained_on": len(self.pool)}

    def state(self):
        return {"pool": self.pool}

    def restore(self, state):
        """The saved pool, under this version's rules (a pool saved before ``min_score`` may hold zeros)."""
        self.pool = {}
        saved = state.get("pool", {})
        self._add(list(saved), [float(v) for v in saved.values()])


class Reinvent(Optimizer):
    name = "reinvent"
    needs_prior = True
    defaults = {"lr": 1e-4, "sigma": 60.0, "replay_size": 100, "replay_batch": 10, "replay_min_score": 0.0}

    def __init__(self, agent, prior=None, **options):
        super().__init__(agent, prior, **options)
        if prior is None:
            raise InputError("reinvent needs the prior (the frozen model the agent is anchored to)")
        for p in prior.model.parameters():
            p.requires_grad_(False)
        self.replay: dict[str, float] = {}

    def seed_population(self, smiles: list[str], scores: np.ndarray) -> None:
        self._remember(smiles, scores)

    def _remember(self, canonical, scores):
        for c, s in zip(canonical, scores):
            if c is not None and s > self.opt["replay_min_score"]:
                self.replay[c] = max(float(s), self.replay.get(c, 0.0))
        self.replay = dict(_best(self.replay, self.opt["replay_size"]))

    def _replay_batch(self, k: int):
        """Up to ``replay_batch`` molecules from the buffer (seeded draw), their ids and scores."""
        if not self.replay or not self.opt["replay_batch"]:
            return None, None
        names = sorted(self.replay)
        rng = np.random.default_rng(k)
        pick = rng.choice(len(names), min(len(names), self.opt["replay_batch"]), replace=False)
        chosen = [names[i] for i in pick]
        ids = self.agent.encode(chosen)
        if ids is None:
            return None, None
        kept = [s for s in chosen if self.agent.can_spell(s)]
        return ids, torch.tensor([self.replay[s] for s in kept], dtype=torch.float32)

    def step(self, k, batch, canonical, scores):
        ids, s = batch.ids, torch.tensor(scores, dtype=torch.float32)
        # one copy of each distinct sequence, as REINVENT does (duplicates would weigh a molecule twice)
        _, first = np.unique(ids.numpy(), axis=0, return_index=True)
        keep = torch.from_numpy(np.sort(first))
        ids, s = ids[keep], s[keep]
        rids, rs = self._replay_batch(k)
        self.agent.model.train()
        agent_ll = self.agent.log_likelihood(ids)
        with torch.no_grad():
            prior_ll = self.prior.log_likelihood(ids)
        loss = ((prior_ll + self.opt["sigma"] * s - agent_ll) ** 2)
        if rids is not None:
            r_agent = self.agent.log_likelihood(rids)
            with torch.no_grad():
                r_prior = self.prior.log_likelihood(rids)
            loss = torch.cat([loss, (r_prior + self.opt["sigma"] * rs - r_agent) ** 2])
        loss = loss.mean()
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.agent.model.parameters(), 10.0)
        self.optimizer.step()
        self.agent.model.eval()
        self._remember(canonical, scores)
        return {"loss": float(loss.item()), "agent_nll": float(-agent_ll.mean().item()),
                "prior_nll": float(-prior_ll.mean().item())}

    def state(self):
        return {"replay": self.replay}

    def restore(self, state):
        self.replay = {k: float(v) for k, v in state.get("replay", {}).items()}


OPTIMIZERS = {c.name: c for c in (SeglerCycle, HillClimb, Reinvent)}
