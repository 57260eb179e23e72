"""Turns at the cores for the web page's predictions, shared fairly.

A prediction is computed in chunks (:func:`chunks`: a run of the request's own molecules, shortest first, about
:data:`CHUNK_CHARS` characters of SMILES); each chunk needs a turn (:class:`FairShare`). ``slots`` turns run at once,
and a free one goes to the waiting request that has been served least so far (in characters of SMILES), the earlier
on a tie: two predictions of 1,000 molecules take turns chunk by chunk, and a small one sent while they run goes
next, after one chunk at most. A request of one chunk may also take an ``express`` turn beside the shared ones, so
it does not even wait for a chunk to end.

Values do not change: a chunk holds molecules of one request only, and in float32 a molecule's prediction does not
depend on the other molecules of its batch, except that a batch of one molecule takes another path through the
kernels (its last printed digit can move), so no chunk holds one molecule unless the request has only one.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import threading

CHUNK_CHARS = 4_000  # characters of SMILES a chunk, once it has CHUNK_LEAST molecules (≈ 100 typical molecules)
CHUNK_LEAST = 32  # molecules a chunk has at least: smaller batches cost the RNN more a molecule (twice at 4)
CHUNK_MOLECULES = 256  # the predictor's batch


def chunks(rows: list[dict], chars: int = CHUNK_CHARS, least: int = CHUNK_LEAST,
           molecules: int = CHUNK_MOLECULES) -> list[list[dict]]:
    """``rows`` (each with its ``smiles``), shortest SMILES first (the predictor sorts by length too: little
    padding), in chunks of at least ``least`` molecules and at most ``molecules``, closed once over ``chars``
    characters of SMILES: about 0.1 s of one core for typical molecules, 0.5 s for 32 of 500 characters. A last
    chunk of fewer than ``least`` joins the one before (or the two are halved), so no chunk holds one molecule
    unless the request has only one."""
    out: list[list[dict]] = []
    cur: list[dict] = []
    size = 0
    for r in sorted(rows, key=lambda r: len(r["smiles"])):
        if len(cur) >= molecules or (len(cur) >= least and size + len(r["smiles"]) > chars):
            out.append(cur)
            cur, size = [], 0
        cur.append(r)
        size += len(r["smiles"])
    if out and len(cur) < least:
        cur = out.pop() + cur
        if len(cur) > molecules:
            out.append(cur[: len(cur) // 2])
            cur = cur[len(cur) // 2:]
    if cur:
        out.append(cur)
    return out


class FairShare:
    """``slots`` turns shared by all requests, ``express`` more for requests of one chunk; see the module."""

    def __init__(self, slots: int, express: int = 1):
        self.slots, self.express = slots, express
        self._cond = threading.Condition()
        self._busy = {"shared": 0, "express": 0}
        self._served: dict[int, int] = {}  # the requests being computed: characters served so far
        self._waiting: dict[int, bool] = {}  # the requests waiting for a turn: whether they are of one chunk
        self._tickets = itertools.count()

    @contextlib.contextmanager
    def request(self, small: bool):
        """A request's place among the others while it is computed: ``with share.request(small) as turn: …
        with turn(cost): compute a chunk``. A request that comes in starts level with the least served of those
        being computed (not at zero, which would put it ahead of them all until it caught up)."""
        with self._cond:
            ticket = next(self._tickets)
            self._served[ticket] = min(self._served.values(), default=0)
        try:
            yield functools.partial(self._turn, ticket, small)
        finally:
            with self._cond:
                self._served.pop(ticket, None)
                self._waiting.pop(ticket, None)
                self._cond.notify_all()

    @contextlib.contextmanager
    def _turn(self, ticket: int, small: bool, cost: int):
        with self._cond:
            self._waiting[ticket] = small
            while (lane := self._lane(ticket, small)) is None:
                self._cond.wait()
            del self._waiting[ticket]
            self._busy[lane] += 1
            self._served[ticket] += cost
        try:
            yield lane
        finally:
            with self._cond:
                self._busy[lane] -= 1
                self._cond.notify_all()

    def _lane(self, ticket: int, small: bool) -> str | None:
        def first(tickets):
            return min(tickets, key=lambda t: (self._served[t], t), default=None)

        if self._busy["shared"] < self.slots and first(self._waiting) == ticket:
            return "shared"
        if small and self._busy["express"] < self.express and \
                first(t for t, one in self._waiting.items() if one) == ticket:
            return "express"
        return None

    def busy(self) -> dict:
        """Turns taken now and requests waiting (for tests and the benchmark)."""
        with self._cond:
            return {**self._busy, "waiting": len(self._waiting), "requests": len(self._served)}

