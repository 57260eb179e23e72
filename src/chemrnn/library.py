"""Focused libraries: distinct, valid, new molecules that a language model finds likely (Segler et al. 2018).

A library is a *set*. Sampling ``N`` strings at random wastes much of ``N`` on repeats, invalid strings and molecules
already known; the methods here build ``N`` distinct, valid, canonical molecules outside a known set:

``beam``
    beam search over the whole sequence tree (Moret et al. 2021, Angew. Chem.): keep the ``N`` best partial sequences
    at each step; the library is the ``N`` most likely sequences that end in an accepted molecule among those the
    beam kept. It approximates the ``N`` most likely molecules, not exactly: a partial sequence that falls out of the
    beam is gone with all its continuations, even those more likely than molecules the beam goes on to keep (a
    partial sequence's log p bounds its continuations' from above, not from below).
``swor``
    sampling without replacement by stochastic beam search (Kool, van Hoof & Welling 2019, ICML, "Gumbel-top-k"):
    the same search ranked by Gumbel-perturbed log-probabilities, which draws an exact sample of ``N`` distinct
    sequences from ``softmax(logits / T)``, never the same one twice.
``sample``
    random sampling at temperature ``T``, each molecule kept once (the baseline).

Both searches check a sequence the moment it ends (``accept``: canonical, valid, not known, not already in the
library), so that rejected strings never take a place: the finished pool then holds exactly ``N`` molecules. They keep
the ``N`` best of (finished ∪ live) at every step; a live sequence's descendants never rank above it (log-probabilities
only fall; a Gumbel child's perturbed value is at most its parent's), so the search stops when nothing live can enter.
For ``swor`` the search is exact (a prefix's perturbed value is the largest of its continuations', Kool et al. 2019),
but for the few places its margin for rejected strings may fall short; for ``beam`` it is a heuristic.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import chem
from .datasets import canonical_set, resolve_input, smiles_column
from .errors import InputError
from .io import atomic_write, base_suffix, check_writable, read_rows
from .models.language import load_lm
from .models.modelfile import own_training_source, training_sources
from .options import LIBRARY_METHODS as METHODS
from .runinfo import hardware, versions, write_json
from .sample import index_state, likelihood, sample
from .utils import reporter as _reporter

NEG_INF = float("-inf")


@dataclass
class Found:
    """Molecules in the order the method produced them (its own ranking: beam and swor rank by their search key,
    sample by the order drawn), so that the first ``n`` are the library the method makes at size ``n``."""

    smiles: list[str]  # canonical SMILES
    key: np.ndarray  # the search's ranking value (beam: log p; swor: perturbed log p; sample: -draw index)
    stats: dict = field(default_factory=dict)
    # log p of each canonical SMILES under the model at T = 1 where the method spelled it canonically at T = 1
    # (NaN elsewhere: the library scores those afterwards)
    logp: np.ndarray | None = None
    # the string the method generated for each molecule (beam, swor: the best-ranked of its spellings the search
    # finished; sample: the first drawn) and its log p under the distribution searched, softmax(logits / T) (beam:
    # T = 1; NaN for a draw cut at max_length). Beam ranks by it: a library file's ``rank`` column follows it.
    spelling: list[str] | None = None
    spelling_logp: np.ndarray | None = None


# ------------------------------------------------------------------------------------------ tree search
def _step(model, last: torch.Tensor, state, temperature: float, chunk: int):
    """Next-token log-probabilities ``[L, V]`` (float64) for the live sequences and their next recurrent state, run in
    chunks of ``chunk`` rows to bound memory."""
    outs, states = [], []
    for start in range(0, len(last), chunk):
        part = None if state is None else index_state(state, slice(start, start + chunk))
        logits, new = model(last[start: start + chunk, None], part)
        outs.append(torch.log_softmax(logits[:, -1].float() / temperature, dim=-1).double())
        states.append(new)
    return torch.cat(outs), _cat_states(states)


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x ≤ 0, stable at both ends (Mächler 2012)."""
    return torch.where(x > -0.6931, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def gumbel_children(parent_g: torch.Tensor, child_phi: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Perturbed log-probabilities of the children, conditioned on their maximum being the parent's (Kool et al.
    2019, eq. 10 and appendix B): ``G'_c = φ_c + Gumbel``, ``Z = max_c G'_c``,
    ``G_c = -log(exp(-G_p) - exp(-Z) + exp(-G'_c))`` computed stably."""
    u = torch.rand(child_phi.shape, generator=gen, dtype=torch.float64).clamp_(1e-300, 1.0)
    g = child_phi - torch.log(-torch.log(u))
    z = g.max(dim=1, keepdim=True).values
    v = parent_g[:, None] - g + _log1mexp((g - z).clamp(max=0.0))
    out = parent_g[:, None] - v.clamp(min=0.0) - torch.log1p(torch.exp(-v.abs()))
    return torch.where(torch.isfinite(child_phi), out, torch.full_like(out, NEG_INF))


def _cat_states(states: list):
    """Recurrent states of consecutive row chunks joined along the batch dimension (an LSTM's (h, c) pairwise)."""
    if isinstance(states[0], tuple):
        return tuple(torch.cat([s[i] for s in states], dim=1) for i in range(len(states[0])))
    return torch.cat(states, dim=1)


def tree_search(model, vocabulary, tokenizer, k: int, accept, *, gumbel: bool = False, temperature: float = 1.0,
                max_length: int = 140, seed: int = 0, chunk: int = 8192, progress=None, checkpoint=None,
                resume: dict | None = None) -> Found:
    """Beam search (``gumbel`` off: rank by log p) or stochastic beam search (on: rank by Gumbel-perturbed log p
    under ``softmax(logits / T)``) for the ``k`` best sequences whose string ``accept`` takes.

    ``accept(string)`` returns the molecule's key (canonical SMILES) or None to reject it; of two sequences with
    one key the better-ranked one stays. ``progress("search", finished, k)`` after each step; ``checkpoint(state)``
    receives the search state (a dict of arrays) after each step, and ``resume`` takes one back: the recurrent
    state is then recomputed from the live prefixes by one teacher-forced pass."""
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    eos, bos = vocabulary.eos_id, vocabulary.bos_id
    tokens_of = vocabulary.tokens
    pool: dict[str, tuple[float, float, tuple]] = {}  # key -> (rank value, log p, token ids)
    stats = {"finished": 0, "rejected": 0, "repeats": 0, "rejected_or_repeat": 0, "expanded": 0}
    if resume is None:
        prefix = torch.zeros((1, 0), dtype=torch.long)
        phi = torch.zeros(1, dtype=torch.float64)
        rank = torch.zeros(1, dtype=torch.float64)
        state, first = None, 0
    else:
        prefix, phi, rank = (torch.from_numpy(resume[x]) for x in ("prefix", "phi", "rank"))
        prefix = prefix.long()
        gen.set_state(torch.from_numpy(resume["generator"]))
        names = str(resume["pool_smiles"]).split("\n") if len(resume["pool_rank"]) else []
        pool = {s: (float(r), float(p), tuple(int(x) for x in t if x >= 0)) for s, r, p, t in
                zip(names, resume["pool_rank"], resume["pool_phi"], resume["pool_tokens"])}
        stats.update(json.loads(str(resume["stats"])))
        first = int(resume["step"])
        state = _replay(model, bos, prefix, chunk) if len(prefix) else None
    for step in range(first, max_length):
        if len(prefix) == 0:
            break
        last = (prefix[:, -1] if prefix.shape[1] else torch.full((len(prefix),), bos)).to(device)
        with torch.no_grad():
            logp, state = _step(model, last, state, temperature, chunk)
        logp = logp.cpu()
        stats["expanded"] += len(prefix)
        child_phi = phi[:, None] + logp
        child_phi[logp < -1e8] = NEG_INF  # tokens that can never come next
        child_rank = gumbel_children(rank, child_phi, gen) if gumbel else child_phi.clone()
        eos_rank = child_rank[:, eos].clone()
        child_rank[:, eos] = NEG_INF
        if step == max_length - 1:
            child_rank.fill_(NEG_INF)  # nothing may grow past max_length
        flat = child_rank.flatten()
        # room for the live sequences that will still be rejected when they end (invalid, known, repeats): the
        # search keeps k plus a margin that follows the rejections seen so far, and the library is the pool's best k
        width = k + max(16, math.ceil(k * max(0.1, 1.5 * stats["rejected_or_repeat"] / max(1, stats["finished"]))))
        checked = torch.zeros(len(prefix), dtype=torch.bool)
        while True:
            tau = _kth_best(width, flat, eos_rank[~checked], pool)
            todo = (~checked) & (eos_rank >= tau) & torch.isfinite(eos_rank)
            if not todo.any():
                break
            for i in torch.nonzero(todo).flatten().tolist():
                ids = tuple(prefix[i].tolist())
                stats["finished"] += 1
                key = accept(tokenizer.detokenize([tokens_of[t] for t in ids]))
                if key is None:
                    stats["rejected"] += 1
                    stats["rejected_or_repeat"] += 1
                    continue
                r = float(eos_rank[i])
                if key in pool:
                    stats["repeats"] += 1
                    stats["rejected_or_repeat"] += 1
                    if pool[key][0] >= r:
                        continue
                pool[key] = (r, float(child_phi[i, eos]), ids)
            checked |= todo
        pool = {s: v for s, v in pool.items() if v[0] >= tau}
        if len(pool) >= k:  # the k best finished outrank every live sequence's best descendant: done
            best_live = float(flat.max()) if flat.numel() else NEG_INF
            kth = sorted((v[0] for v in pool.values()), reverse=True)[k - 1]
            if kth >= best_live:
                prefix = prefix[:0]
                if progress is not None:
                    progress("search", min(len(pool), k), k)
                if checkpoint is not None:  # the finished search: a rerun after a later failure starts here
                    checkpoint(_search_state(step + 1, prefix, phi[:0], rank[:0], gen, pool, stats), final=True)
                break
        slots = max(0, width - len(pool))
        live = int(((flat >= tau) & torch.isfinite(flat)).sum()) if slots else 0
        take = min(slots, live)
        idx = torch.topk(flat, take).indices if take else torch.zeros(0, dtype=torch.long)
        parent, tok = idx // logp.shape[1], idx % logp.shape[1]
        prefix = torch.cat([prefix[parent], tok[:, None]], dim=1)
        phi, rank = child_phi[parent, tok], child_rank[parent, tok]
        state = index_state(state, parent.to(device)) if take else None
        if progress is not None:
            progress("search", min(len(pool), k), k)
        if checkpoint is not None:
            checkpoint(_search_state(step + 1, prefix, phi, rank, gen, pool, stats))
    ranked = sorted(pool.items(), key=lambda kv: -kv[1][0])[:k]
    out = Found([s for s, _ in ranked], np.array([v[0] for _, v in ranked]), stats)
    out.stats["phi"] = np.array([v[1] for _, v in ranked])
    out.stats["token_ids"] = [list(v[2]) for _, v in ranked]
    spelled = [tokenizer.detokenize([tokens_of[t] for t in v[2]]) for _, v in ranked]
    out.logp = np.array([phi_ if temperature == 1.0 and sp == key else np.nan
                         for (key, (_, phi_, _)), sp in zip(ranked, spelled)])
    out.spelling, out.spelling_logp = spelled, out.stats["phi"]
    return out


def _kth_best(k: int, flat: torch.Tensor, eos_unchecked: torch.Tensor, pool: dict) -> float:
    """The k-th largest rank value over the live children, the unchecked finished ones and the pool (−inf when
    there are fewer than k candidates)."""
    pool_r = torch.tensor([v[0] for v in pool.values()], dtype=torch.float64)
    cand = torch.cat([flat, eos_unchecked, pool_r])
    cand = cand[torch.isfinite(cand)]
    if len(cand) <= k:
        return NEG_INF
    return float(torch.topk(cand, k).values[-1])


def _search_state(step, prefix, phi, rank, gen, pool, stats) -> dict:
    """The search as plain arrays (no pickled objects): the pool's token ids padded with -1."""
    items = list(pool.items())
    width = max((len(v[2]) for _, v in items), default=0)
    tokens = np.full((len(items), width), -1, dtype=np.int16)
    for row, (_, v) in enumerate(items):
        tokens[row, : len(v[2])] = v[2]
    return {"step": np.array(step), "prefix": prefix.numpy().astype(np.int16), "phi": phi.numpy(),
            "rank": rank.numpy(), "generator": gen.get_state().numpy(),
            "pool_smiles": np.array("\n".join(s for s, _ in items)),
            "pool_rank": np.array([v[0] for _, v in items]), "pool_phi": np.array([v[1] for _, v in items]),
            "pool_tokens": tokens,
            "stats": np.array(json.dumps({k: v for k, v in stats.items() if isinstance(v, int)}))}


def _replay(model, bos: int, prefix: torch.Tensor, chunk: int):
    """The recurrent state the search holds at the start of a step: after reading <bos> and each prefix but its last
    token (which the step feeds), for prefixes all of one length; one teacher-forced pass."""
    device = next(model.parameters()).device
    states = []
    with torch.no_grad():
        for start in range(0, len(prefix), chunk):
            part = prefix[start: start + chunk, :-1]
            ids = torch.cat([torch.full((len(part), 1), bos), part], dim=1).to(device)
            _, st = model(ids)
            states.append(st)
    return _cat_states(states)


# ------------------------------------------------------------------------------------------ random sampling
def sample_distinct(model, vocabulary, tokenizer, k: int, accept, *, temperature: float = 1.0, max_length: int = 140,
                    seed: int = 0, batch_size: int = 1024, max_draws: int | None = None, progress=None,
                    checkpoint=None, resume: dict | None = None) -> Found:
    """Random sampling until ``k`` molecules are accepted (each molecule once, in the order drawn); gives up after
    ``max_draws`` (default 50 × k) draws. Batch ``b`` draws with a seed of its own (from ``seed`` and ``b``), so a run
    resumed from ``checkpoint``'s state continues exactly as an uninterrupted one."""
    max_draws = max_draws or 50 * k
    kept: dict[str, tuple[float, str, float]] = {}  # molecule -> (Found.logp, Found.spelling, Found.spelling_logp)
    if resume is not None and str(resume["smiles"]):
        names = str(resume["smiles"]).split("\n")
        # a state saved before spellings were kept: its log p is known where the draw was the canonical spelling
        # at T = 1, which is then the spelling; elsewhere the spelling is unknown
        old_logp = resume["logp"].tolist()
        spelled = (str(resume["spelling"]).split("\n") if "spelling" in resume else
                   [c if lp == lp else "" for c, lp in zip(names, old_logp)])
        spelled_lp = resume["spelling_logp"] if "spelling_logp" in resume else resume["logp"]
        kept = dict(zip(names, zip(resume["logp"].tolist(), spelled, np.asarray(spelled_lp).tolist())))
    stats = {"drawn": 0, "invalid_or_known": 0, "repeats": 0, "batches": 0}
    if resume is not None:
        stats.update(json.loads(str(resume["stats"])))
    while len(kept) < k and stats["drawn"] < max_draws:
        b = stats["batches"]
        batch_seed = int(np.random.SeedSequence([seed, b]).generate_state(1)[0])
        s = sample(model, vocabulary, tokenizer, batch_size, temperature=temperature, batch_size=batch_size,
                   max_length=max_length, seed=batch_seed, device="auto")
        for raw, nll, fin in zip(s.smiles, s.nll, s.finished):
            if len(kept) == k:  # the library is full: the rest of the batch is not looked at
                break
            key = accept(raw)
            if key is None:
                stats["invalid_or_known"] += 1
            elif key in kept:
                stats["repeats"] += 1
            else:
                lp = -float(nll) if fin else float("nan")
                kept[key] = (lp if temperature == 1.0 and raw == key else float("nan"), raw, lp)
        stats["drawn"] += batch_size
        stats["batches"] += 1
        if progress is not None:
            progress("sample", len(kept), k)
        if checkpoint is not None:
            checkpoint(_drawn_state(kept, stats))
    smiles = list(kept)
    logp, spelling, spelling_logp = (list(x) for x in zip(*kept.values())) if kept else ([], [], [])
    return Found(smiles, -np.arange(len(smiles), dtype=float), stats, np.array(logp, dtype=float),
                 spelling, np.array(spelling_logp, dtype=float))


def _drawn_state(kept: dict, stats: dict) -> dict:
    """The random sampler's state as plain arrays: the molecules kept so far with their values, and the counts."""
    values = list(kept.values())
    return {"smiles": np.array("\n".join(kept)), "logp": np.array([v[0] for v in values], dtype=float),
            "spelling": np.array("\n".join(v[1] for v in values)),
            "spelling_logp": np.array([v[2] for v in values], dtype=float), "stats": np.array(json.dumps(stats))}


# ------------------------------------------------------------------------------------------ the library
class Acceptor:
    """The library's gate: canonical SMILES of a valid molecule that is not in ``known`` and whose canonical
    spelling the model's vocabulary can write (so that its likelihood is defined); counts what it refused."""

    def __init__(self, known: set[str], vocabulary=None, tokenizer=None):
        self.known = known
        self.vocabulary, self.tokenizer = vocabulary, tokenizer
        self.invalid = self.known_hits = self.unspellable = 0

    def counts(self) -> dict:
        return {"invalid": self.invalid, "known": self.known_hits, "unspellable": self.unspellable}

    def restore(self, counts: dict) -> None:
        """Take back the counts a saved search state holds (a resumed search goes on counting from them)."""
        self.invalid, self.known_hits = counts.get("invalid", 0), counts.get("known", 0)
        self.unspellable = counts.get("unspellable", 0)

    def __call__(self, smiles: str) -> str | None:
        c = chem.canonical_or_none(smiles) if smiles else None
        if c is None:
            self.invalid += 1
            return None
        if c in self.known:
            self.known_hits += 1
            return None
        if self.vocabulary is not None and not all(t in self.vocabulary for t in self.tokenizer.tokenize(c)):
            self.unspellable += 1  # e.g. a hypervalent atom that RDKit writes in brackets ([IH])
            return None
        return c


def build(model, vocabulary, tokenizer, n: int, method: str, known: set[str], *, temperature: float = 1.0,
          max_length: int = 140, seed: int = 0, batch_size: int = 1024, progress=None, workdir=None,
          settings: dict | None = None, save_every_s: float = 30.0) -> Found:
    """``n`` distinct valid canonical molecules outside ``known`` by ``method`` (:data:`METHODS`), in the method's
    order. With ``workdir``, the search state is saved there after every step (atomically) and a rerun with the
    same ``settings`` resumes from it (saved at most every ``save_every_s`` seconds); other settings in the same
    folder are refused."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    accept = Acceptor(known, vocabulary, tokenizer)
    resume, save = _work(workdir, settings or {}, save_every_s)
    if resume is not None:  # what the gate refused before the stop counts too
        accept.restore(json.loads(str(resume["stats"])))

    def save_with_counts(state: dict, final: bool = False) -> None:
        state["stats"] = np.array(json.dumps({**json.loads(str(state["stats"])), **accept.counts()}))
        save(state, final)

    t0 = time.perf_counter()
    checkpoint = save_with_counts if save is not None else None
    if method == "sample":
        found = sample_distinct(model, vocabulary, tokenizer, n, accept, temperature=temperature, max_length=max_length,
                                seed=seed, batch_size=batch_size, progress=progress, checkpoint=checkpoint,
                                resume=resume)
    else:
        found = tree_search(model, vocabulary, tokenizer, n, accept, gumbel=method == "swor",
                            temperature=temperature if method == "swor" else 1.0, max_length=max_length, seed=seed,
                            progress=progress, checkpoint=checkpoint, resume=resume)
    found.stats.update({"seconds_this_sitting": time.perf_counter() - t0, **accept.counts()})
    return found


def _work(workdir, settings: dict, every_s: float):
    """(the saved state to resume from or None, the function that saves one) for a work folder."""
    if workdir is None:
        return None, None

    workdir = Path(workdir)
    spec = workdir / "settings.json"
    state_file = workdir / "state.npz"
    resume = None
    if spec.exists():
        old = json.loads(spec.read_text())
        # a setting the folder does not record (saved before it was recorded) is taken as the same
        diff = sorted(k for k in set(old) | set(settings) if k in old and old.get(k) != settings.get(k))
        if diff:
            raise InputError(f"holds an unfinished library made with other settings ({', '.join(diff)}): rerun "
                             f"with them, or delete the folder", workdir)
        if state_file.exists():
            with np.load(state_file) as z:  # plain arrays only: nothing is unpickled
                resume = {k: z[k] for k in z.files}
    workdir.mkdir(parents=True, exist_ok=True)
    with atomic_write(spec) as fh:
        json.dump(settings, fh, indent=1)
    last = [0.0]

    def save(state: dict, final: bool = False) -> None:
        now = time.perf_counter()
        if now - last[0] < every_s and not final:  # a step of a large search takes seconds; its state is large
            return
        last[0] = now
        _write_state(state_file, state)

    return resume, save


def _write_state(path: Path, state: dict) -> None:
    with atomic_write(path, mode="wb") as fh:
        np.savez(fh, **state)


# ------------------------------------------------------------------------------------------ scoring and recovery
@dataclass
class Scored:
    """``lm score``'s answer for one input row."""

    line: int
    smiles: str  # as read
    scored: str = ""  # the string scored: the canonical SMILES, or the input as written
    logp: float = float("nan")  # log-likelihood of the string with its <eos>
    tokens: int = 0  # tokens scored (the string's and <eos>)
    error: str = ""

    @property
    def logp_per_token(self) -> float:
        return self.logp / self.tokens if self.tokens else float("nan")


def score_rows(model, vocabulary, tokenizer, rows, as_written: bool = False, batch_size: int = 512) -> list[Scored]:
    """The log-likelihood of each row's molecule under the model (of its canonical SMILES, or with ``as_written``
    of the string exactly as given); a row that cannot be scored gets the reason instead (invalid SMILES, a token
    the model's vocabulary lacks, a line that could not be read)."""
    out, todo = [], []
    for row in rows:
        item = Scored(row.line, row.smiles)
        out.append(item)
        if row.error or not row.smiles:
            item.error = row.error or "blank line"
            continue
        canon, reason = chem.canonical(row.smiles)
        if canon is None:
            item.error = f"invalid SMILES: {reason}"
            continue
        item.scored = row.smiles if as_written else canon
        toks = tokenizer.tokenize(item.scored)
        unknown = sorted({t for t in toks if t not in vocabulary})
        if unknown:
            item.error = f"token(s) the model never saw: {' '.join(unknown)}"
            continue
        item.tokens = len(toks) + 1
        todo.append(item)
    if todo:
        nll = likelihood(model, vocabulary, tokenizer, [x.scored for x in todo], batch_size=batch_size)
        for item, v in zip(todo, nll):
            item.logp = -float(v)
    return out


def recovery_curve(found: list[str], targets: set[str], every: int) -> list[dict]:
    """Held-out actives among the first ``n`` molecules of ``found`` (the method's order), every ``every`` and at the
    end: each prefix is the library the method makes at that size."""
    curve, hits = [], 0
    for i, s in enumerate(found, 1):
        hits += s in targets
        if i % every == 0 or i == len(found):
            curve.append({"library": i, "recovered": hits,
                          "fraction": hits / len(targets) if targets else 0.0})
    return curve


def make_library(model, n: int, output, *, method: str = "beam", temperature: float = 1.0, seed: int = 0,
            exclude_training: bool = True, novel_only: bool = False, exclude=None, heldout=None,
            every: int = 10_000, max_length: int = 140, batch_size: int = 1024, device: str = "cpu",
            progress=None) -> dict:
    """``chemrnn lm library``: a focused library of ``n`` distinct, valid, canonical molecules written to ``output``
    with their log-likelihood under the model, most likely first (see :mod:`chemrnn.library` for the methods).

    Never in it: the model's own training data (a fine-tuned model's actives; ``exclude_training``), with
    ``novel_only`` the data of every model it started from too, and the molecules of ``exclude`` (sources). With
    ``heldout``, the recovery curve of the method's order (its library at each size) every ``every`` molecules.
    The search saves its state in ``OUTPUT.partial/`` and a rerun of the same command resumes from it; the summary
    (settings, counts, time, curve) goes to ``OUTPUT.summary.json``. ``progress(message, done, total)``."""
    import numpy as np

    from .evaluation import read_heldout

    if method not in METHODS:
        raise InputError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    if not temperature > 0:
        raise InputError(f"--temperature must be > 0, not {temperature}")
    if novel_only and not exclude_training:
        raise InputError("--novel-only leaves out the training data of the model and of every model it started "
                         "from, its own included: it cannot go with --no-exclude-training")
    output = Path(output)
    check_writable(output, "file")
    say = _reporter(progress)
    targets, heldout_rows = read_heldout(heldout) if heldout is not None else (None, 0)
    sources = list(exclude or [])  # the user's files first: a bad one is refused before a long canonicalization
    if novel_only:
        sources += training_sources(model)
    elif exclude_training:
        sources.append(own_training_source(model))
    known: set[str] = set()
    for source in sources:
        known |= canonical_set(source, progress=progress)
    m, vocab, tok, _ = load_lm(model, device=device)
    # the device too: another one draws other random numbers (swor, sample) and rounds otherwise
    settings = {"model": str(model), "n": n, "method": method, "temperature": temperature, "seed": seed,
                "max_length": max_length, "known_sources": [str(x) for x in sources], "known": len(known),
                "device": next(m.parameters()).device.type}
    workdir = output.with_name(output.name + ".partial")
    t0 = time.perf_counter()

    def report(stage, done, total=None):
        say(f"library ({method}, {n:,} molecules)", done, total)

    from .training.lock import run_lock

    with run_lock(workdir, "lm library"):  # one process at a time builds (and resumes) a library
        found = build(m, vocab, tok, n, method, known, temperature=temperature, max_length=max_length, seed=seed,
                      batch_size=batch_size, progress=report, workdir=workdir, settings=settings)
    search_s = time.perf_counter() - t0
    tokens = [tok.tokenize(x) for x in found.smiles]
    keep = [i for i, t in enumerate(tokens) if all(x in vocab for x in t)]
    if len(keep) < len(tokens):  # a search state saved before the vocabulary check: drop what cannot be scored
        found.stats["unspellable"] = found.stats.get("unspellable", 0) + len(tokens) - len(keep)
        found.smiles, tokens = [found.smiles[i] for i in keep], [tokens[i] for i in keep]
        found.logp = None if found.logp is None else found.logp[keep]
        found.spelling, found.spelling_logp = [found.spelling[i] for i in keep], found.spelling_logp[keep]
    logp = np.array(found.logp, dtype=float) if found.logp is not None else np.full(len(found.smiles), np.nan)
    todo = np.flatnonzero(np.isnan(logp))  # the molecules the method did not spell canonically at T = 1
    if len(todo):
        say(f"library: scoring {len(todo):,} molecules the method spelled otherwise")
        logp[todo] = -likelihood(m, vocab, tok, [found.smiles[i] for i in todo], batch_size=2048, device=device)
    ntok = np.array([len(t) + 1 for t in tokens])
    order = np.argsort(-logp, kind="stable")
    _write_library(output, [found.smiles[i] for i in order], logp[order], ntok[order], order,
                   [found.spelling[i] for i in order], found.spelling_logp[order])
    seconds = time.perf_counter() - t0
    stats = {k: v for k, v in found.stats.items() if isinstance(v, (int, float))}
    res = {"settings": settings, "written": len(found.smiles), "complete": len(found.smiles) == n,
           "search_seconds": round(search_s, 1), "seconds": round(seconds, 1),
           "molecules_per_s": round(len(found.smiles) / max(seconds, 1e-9), 1),
           "mean_logp": float(logp.mean()) if len(logp) else None, "stats": stats,
           "versions": versions(), "hardware": hardware()}
    if targets is not None:
        res["heldout"] = {"source": str(heldout), "molecules": len(targets), "rows": heldout_rows,
                          "known": len(targets & known),
                          "curve": recovery_curve(found.smiles, targets, every)}
        last = res["heldout"]["curve"][-1] if res["heldout"]["curve"] else {"recovered": 0, "fraction": 0.0}
        res["heldout"].update(recovered=last["recovered"], fraction=last["fraction"])
    write_json(output.with_name(output.name + ".summary.json"), res)
    _remove_tree(workdir)
    return res


def _write_library(path: Path, smiles, logp, ntok, rank, spelling, spelling_logp) -> None:
    """A library file: ``.csv`` with a header (smiles, logp, logp_per_token, tokens, rank, spelling, spelling_logp:
    see :class:`Found`), or a SMILES file with the log-likelihood as its name column (gzipped for ``.gz``)."""
    import csv

    with atomic_write(path) as fh:
        if base_suffix(path)[0] in (".csv", ".tsv"):
            w = csv.writer(fh, delimiter="," if base_suffix(path)[0] == ".csv" else "\t", lineterminator="\n")
            w.writerow(["smiles", "logp", "logp_per_token", "tokens", "rank", "spelling", "spelling_logp"])
            for s, lp, t, r, sp, sp_lp in zip(smiles, logp, ntok, rank, spelling, spelling_logp):
                w.writerow([s, f"{lp:.4f}", f"{lp / t:.4f}", int(t), int(r) + 1, sp,
                            f"{sp_lp:.4f}" if sp_lp == sp_lp else ""])
        else:
            for s, lp in zip(smiles, logp):
                fh.write(f"{s}\t{lp:.4f}\n")


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def score_file(model, source, output=None, *, as_written: bool = False, column: str | None = None,
          device: str = "cpu") -> dict:
    """``chemrnn lm score``: the log-likelihood under ``model`` of each row's molecule (total and per token), one
    output row per input row in order (``line, smiles, scored, logp, logp_per_token, tokens, error``); rows that
    cannot be scored carry the reason. Returns the rows and the counts."""
    import csv
    import io as _io

    path = resolve_input(source)
    rows = list(read_rows(path, column or smiles_column(source)))
    if not any(r.smiles.strip() for r in rows):
        raise InputError("no SMILES to score (only blank lines or empty cells)", path)
    m, vocab, tok, _ = load_lm(model, device=device)
    scored = score_rows(m, vocab, tok, rows, as_written=as_written)
    if output is not None:
        buf = _io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["line", "smiles", "scored", "logp", "logp_per_token", "tokens", "error"])
        for x in scored:
            ok = not x.error
            w.writerow([x.line, x.smiles, x.scored if ok else "", f"{x.logp:.6f}" if ok else "",
                        f"{x.logp_per_token:.6f}" if ok else "", x.tokens if ok else "", x.error])
        with atomic_write(output) as fh:
            fh.write(buf.getvalue())
    good = [x for x in scored if not x.error]
    return {"rows": scored, "scored": len(good), "failed": len(scored) - len(good),
            "mean_logp": sum(x.logp for x in good) / len(good) if good else None,
            "mean_logp_per_token": sum(x.logp_per_token for x in good) / len(good) if good else None}
