"""Molecules around a fixed core: scaffold decoration and linker design by a SMILES language model.

A core with attachment points (``c1ccc([*:1])cc1[*:2]``) is written as a SMILES in which every point is a leaf —
the last atom of a branch, or of the whole string (:func:`chemrnn.chem.decoration_template`):
``c1ccc([*:2])cc1[*:1]``. The model reads the core's tokens as a prompt, and where a point stands it writes the
decoration itself, token by token, until it closes the branch with ``)`` (or ends the string with ``<eos>``); the core's
next tokens follow. For a linker the first fragment is written with its point last (``c1ccccc1[*:1]``), the model
writes the linker, and the second fragment (``N1CCOCC1``) follows once the model writes that fragment's first token
where a new atom could start the fragment (outside any branch or ring the linker has open) — or would end the
molecule there: the chance of ``<eos>`` goes to starting the fragment.

Constrained decoding keeps every output a molecule with the core at its points: while writing, a ring label the
core holds open cannot be written (it would bond the decoration back into the core), a decoration starts with an
atom (not a bond symbol, which would change the core's bond), a branch cannot be closed nor the string ended while
the decoration holds a ring open or before it has an atom, and no ``.`` is written. The
likelihood the model gives each choice is otherwise its own (``softmax(logits / T)`` renormalized over what is
allowed). Every output is still checked: parsed by RDKit and matched against the core (points match any atom).

The decorated molecules' strings are not canonical SMILES, which a prior trained on canonical SMILES rarely reads:
the prompt is the spelling rooted at the core's first atom in canonical order that ends with a point, the one
closest to how such a prior writes molecules.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import chem
from .errors import InputError
from .models.language import load_lm
from .sample import _device, _known, drop_ended

FORCED, BRANCH, END, LINK = 0, 1, 2, 3  # a template item: a token to copy, or a place where the model writes


@dataclass
class Template:
    """What the decoder copies and where it writes: ``kinds[k]`` is FORCED (copy ``ids[k]``), BRANCH (write until a
    ``)`` closes the branch), END (write until ``<eos>``) or LINK (write until the next fragment's first token,
    ``ids[k]``, starts it)."""

    text: str  # the prompt as a SMILES with its points
    kinds: list[int]
    ids: list[int]
    open_rings: list[frozenset[str]]  # ring labels the core holds open where each item stands
    tail: str = ""  # linking: the second fragment


@dataclass
class Decorations:
    smiles: list[str]  # canonical SMILES of each output containing the core, in the order drawn (repeats kept)
    stats: dict = field(default_factory=dict)


def _is_point(token: str) -> bool:
    return token == "*" or token.startswith("[*")


def _is_ring(token: str) -> bool:
    return token.isdigit() or (token.startswith("%") and token[1:].isdigit())


def _is_atom(token: str) -> bool:
    return token[:1].isalpha() or (token.startswith("[") and not token.startswith("[*"))


def _encode(tokens: list[str], vocabulary, where: str) -> list[int]:
    missing = sorted({t for t in tokens if t not in vocabulary})
    if missing:
        raise InputError(f"{where}: the model cannot write the token(s) {' '.join(missing)}")
    return [vocabulary.index[t] for t in tokens]


def _open_after(tokens: list[str]) -> frozenset[str]:
    """Ring labels left open after ``tokens`` (a label opens at its first use and closes at the next)."""
    open_: set[str] = set()
    for t in tokens:
        if _is_ring(t):
            open_ ^= {t}
    return frozenset(open_)


def decoration_template(core: str, vocabulary, tokenizer) -> tuple[Template, object]:
    """The template of a core with attachment points, and the core as a query for checking outputs. A bad core is
    an :class:`InputError` naming it and the reason."""
    mol, reason = chem.attachment_core(core)
    if mol is None:
        raise InputError(f"core {core!r} {reason}")
    text = chem.decoration_template(mol)
    tokens = tokenizer.tokenize(text)
    kinds, ids, rings = [], [], []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if _is_point(t):
            at_end = i == len(tokens) - 1
            kinds.append(END if at_end else BRANCH)
            ids.append(-1)
            rings.append(_open_after(tokens[:i]))
            i += 1 if at_end else 2  # the model writes the ")" that closes the point's branch
            continue
        kinds.append(FORCED)
        ids.append(_encode([t], vocabulary, f"core {core!r}")[0])
        rings.append(frozenset())
        i += 1
    if kinds[-1] != END:
        kinds.append(FORCED)
        ids.append(vocabulary.eos_id)
        rings.append(frozenset())
    return Template(text, kinds, ids, rings), chem.core_query(mol)


def linker_template(first: str, second: str, vocabulary, tokenizer) -> tuple[Template, object]:
    """The template that joins two fragments (one attachment point each) by a linker the model writes, and the
    two fragments joined by a wildcard chain as the check: both fragments, each bonded at its point."""
    mols = []
    for name, smi in (("first", first), ("second", second)):
        mol, reason = chem.attachment_core(smi)
        if mol is None:
            raise InputError(f"{name} fragment {smi!r} {reason}")
        if sum(1 for a in mol.GetAtoms() if not a.GetAtomicNum()) != 1:
            raise InputError(f"{name} fragment {smi!r} must have exactly one attachment point")
        mols.append(mol)
    try:
        head, tail = chem.linker_parts(*mols)
    except ValueError as exc:
        raise InputError(f"first fragment {first!r}: {exc}") from None
    head_tokens, tail_tokens = tokenizer.tokenize(head)[:-1], tokenizer.tokenize(tail)
    where = f"fragments {first!r}, {second!r}"
    # the LINK item's id is the second fragment's first token: writing it starts the fragment, copied from its second
    kinds = [FORCED] * len(head_tokens) + [LINK] + [FORCED] * len(tail_tokens)
    ids = _encode(head_tokens, vocabulary, where) + _encode(tail_tokens, vocabulary, where) + [vocabulary.eos_id]
    rings = [frozenset()] * len(kinds)
    rings[len(head_tokens)] = _open_after(head_tokens)
    query = [chem.core_query(m) for m in mols]
    return Template(head + " + " + tail, kinds, ids, rings, tail), query


class _Masks:
    """Token classes of a vocabulary, as boolean rows over its ids."""

    def __init__(self, vocabulary, device):
        toks = vocabulary.tokens
        v = len(toks)

        def row(pred):
            return torch.tensor([bool(pred(t)) for t in toks], device=device)

        self.atom = row(_is_atom)
        # a decoration starts with an atom, bonded to the core as the attachment point was (a "=" there would
        # double-bond the core's atom and change the core)
        self.first = self.atom
        self.never = row(lambda t: t == "." or _is_point(t))
        self.ring_label = [t if _is_ring(t) else None for t in toks]
        self.ring = row(_is_ring)
        self.open_id = vocabulary.index.get("(", -1)
        self.close_id = vocabulary.index.get(")", -1)
        self.eos = vocabulary.eos_id
        self.v = v
        self.device = device

    def item_row(self, labels: frozenset[str]) -> torch.Tensor:
        m = ~self.never
        for i, lab in enumerate(self.ring_label):
            if lab is not None and lab in labels:
                m[i] = False
        return m


@torch.no_grad()
def decorate(model, vocabulary, tokenizer, template: Template, n: int, *, temperature: float = 1.0,
             batch_size: int = 500, max_length: int = 140, seed: int = 0, device: str = "cpu",
             progress=None) -> tuple[list[str | None], dict]:
    """Draw ``n`` strings from ``template`` (see the module docstring): the raw strings (None where a row hit
    ``max_length`` before it ended) and counts."""
    if tokenizer.name != "atom":
        raise InputError(f"decoration needs a model with the atom tokenizer (this one reads {tokenizer.name})")
    device = _device(model, device)
    model.eval()
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    masks = _Masks(vocabulary, device)
    item_rows = torch.stack([masks.item_row(r) for r in template.open_rings])  # [items, V]
    out: list[str | None] = []
    t0 = time.perf_counter()
    while len(out) < n:
        b = min(batch_size, n - len(out))
        out += _decorate_batch(model, vocabulary, template, masks, item_rows, b, temperature, max_length, gen,
                               device)
        if progress is not None:
            progress("decorating", len(out), n)
    return out, {"drawn": n, "seconds": round(time.perf_counter() - t0, 2)}


def _decorate_batch(model, vocabulary, tpl: Template, masks: _Masks, item_rows, b, temperature, max_length, gen,
                    device) -> list[str | None]:
    kinds = torch.tensor(tpl.kinds, device=device)
    ids = torch.tensor(tpl.ids, device=device)
    labels = sorted({lab for lab in masks.ring_label if lab is not None})
    col = {lab: j for j, lab in enumerate(labels)}
    label_col = torch.tensor([col.get(lab, -1) if lab else -1 for lab in masks.ring_label], device=device)
    k = torch.zeros(b, dtype=torch.long, device=device)  # the template item each row is at
    depth = torch.zeros(b, dtype=torch.long, device=device)  # branches the model opened in its segment
    atoms = torch.zeros(b, dtype=torch.long, device=device)  # atoms the model wrote in its segment
    rings = torch.zeros(b, max(1, len(labels)), dtype=torch.bool, device=device)  # labels the segment holds open
    written = torch.full((b, max_length), vocabulary.pad_id, dtype=torch.long, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    alive = torch.arange(b, device=device)
    token = torch.full((b, 1), vocabulary.bos_id, dtype=torch.long, device=device)
    state = None
    for step in range(max_length):
        logits, state = model(token, state)
        logits = logits[:, -1].float() / temperature
        ka = k[alive]
        kind = kinds[ka]
        nxt = ids[ka].clone()
        free = kind != FORCED
        if free.any():
            rows = alive[free]
            allowed = item_rows[ka[free]].clone()
            first = atoms[rows] == 0
            allowed[first] &= masks.first
            balanced = (depth[rows] == 0) & ~rings[rows].any(1) & ~first
            fk = kind[free]
            if masks.close_id >= 0:
                allowed[:, masks.close_id] &= (depth[rows] > 0) | (balanced & (fk == BRANCH))
            allowed[:, masks.eos] &= balanced & (fk == END)
            switch = ids[ka[free]]
            link = fk == LINK
            # a linker row may start the second fragment only when its own part is whole
            lg = logits[free]
            if link.any():  # and there it takes the chance the model gives to ending the molecule too
                lr = torch.nonzero(link & balanced).squeeze(1)
                if len(lr):
                    lg = lg.clone()
                    lg[lr, switch[lr]] = torch.logaddexp(lg[lr, switch[lr]], lg[lr, masks.eos])
                    allowed[lr, switch[lr]] = True
            lg = lg.masked_fill(~allowed, float("-inf"))
            pick = torch.multinomial(torch.softmax(lg, dim=-1), 1, generator=gen).squeeze(1)
            nxt[free] = pick
            # what the pick does to the segment
            is_close = pick == masks.close_id
            ends = is_close & (depth[rows] == 0)
            depth[rows] += (pick == masks.open_id).long() - (is_close & (depth[rows] > 0)).long()
            atoms[rows] += masks.atom[pick].long()
            lc = label_col[pick]
            rr = lc >= 0
            if rr.any():
                rings[rows[rr], lc[rr]] ^= True
            switched = link & balanced & (pick == switch)
            if switched.any():  # the pick is the second fragment's first token: the fragment is copied from here
                rings[rows[switched]] = False
            leave = ends | switched
            k[rows[leave]] += 1
            depth[rows[leave]] = 0
            atoms[rows[leave]] = 0
        forced = ~free
        if forced.any():
            k[alive[forced]] += 1
        written[alive, step] = nxt
        alive, nxt, state = drop_ended(nxt == vocabulary.eos_id, done, alive, nxt, state)
        if not len(alive):
            break
        token = nxt[:, None]
    tokens = vocabulary.tokens
    out = []
    for row, ok in zip(written.cpu().numpy(), done.cpu().numpy()):
        if not ok:
            out.append(None)
            continue
        stop = int(np.flatnonzero(row == vocabulary.eos_id)[0])
        out.append("".join(tokens[i] for i in row[:stop]))
    return out


def check(strings: list[str | None], query) -> tuple[list[str | None], dict]:
    """Each string's canonical SMILES where it is a molecule containing the core (all fragments, for a linker),
    else None; with counts: ``unfinished`` (hit the length limit), ``invalid``, ``core_missing``."""
    queries = query if isinstance(query, list) else [query]
    out: list[str | None] = []
    counts = {"unfinished": 0, "invalid": 0, "core_missing": 0}
    for s in strings:
        if s is None:
            counts["unfinished"] += 1
            out.append(None)
            continue
        canon = chem.canonical_or_none(s)
        if canon is None:
            counts["invalid"] += 1
            out.append(None)
        elif not all(chem.contains_core(canon, q) for q in queries):
            counts["core_missing"] += 1
            out.append(None)
        else:
            out.append(canon)
    return out, counts


def decorate_smiles(model=None, n: int = 1000, *, core: str | None = None, link: tuple[str, str] | None = None,
                    temperature: float = 1.0, batch_size: int = 500, max_length: int = 140, seed: int = 0,
                    device: str = "cpu", unique_only: bool = False, progress=None, impl: str = "fused",
                    novel_only: bool = False, exclude=None) -> dict:
    """Molecules around a fixed core (:mod:`chemrnn.decorate`): ``core`` with attachment points decorated by the
    model, or the two fragments of ``link`` joined by a linker it writes. ``n`` strings are drawn; ``written`` holds
    the canonical SMILES of those that are molecules containing the core at its points (each once with
    ``unique_only``; only those outside ``exclude`` / the training data with ``novel_only``), with the counts."""
    if (core is None) == (link is None):
        raise InputError("give either a core or two fragments to link")
    m, vocab, tokenizer, _ = load_lm(model, impl=impl, device=device)
    template, query = (decoration_template(core, vocab, tokenizer) if core is not None
                       else linker_template(link[0], link[1], vocab, tokenizer))
    known = _known(model, exclude) if novel_only else set()
    t0 = time.perf_counter()
    raw, _ = decorate(m, vocab, tokenizer, template, n, temperature=temperature, batch_size=batch_size,
                               max_length=max_length, seed=seed, device=device, progress=progress)
    seconds = time.perf_counter() - t0
    checked, counts = check(raw, query)
    good = [c for c in checked if c is not None]
    written, seen = [], set()
    for c in good:
        if (novel_only and c in known) or ((unique_only or novel_only) and c in seen):
            continue
        seen.add(c)
        written.append(c)
    res = {"written": written, "drawn": n, "with_core": len(good), "unique": len(set(good)), "seconds": seconds,
           "template": template.text, **counts}
    if novel_only:
        res["novel"] = len(written)
    return res
