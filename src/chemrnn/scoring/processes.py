"""Scoring work in forked processes, one process a molecule, ``workers`` at a time: what the scoring function's
per-molecule timeout and the docking component both run on.

Each process leads a process group of its own, so that one that runs past its time is stopped together with the
programs it started (Vina, Open Babel, an external scorer), and turns SIGTERM into an exit that runs its clean-up
code. Results come back as each process ends, not in the order given: a slow molecule holds up only its own process,
so no worker waits idle for the slowest molecule of a chunk.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from typing import Any, Callable, Iterator


def each_in_process(fn: Callable[[Any], Any], items: list, workers: int, timeout: float | None = None,
                    what: str = "scoring") -> Iterator[tuple[int, Any, str | None]]:
    """``(index, fn(items[index]), None)`` for each item as its process ends, or ``(index, None, reason)`` where the
    process ran past ``timeout`` seconds (it is stopped with what it started) or ended without a result (killed, out of
    memory). ``workers`` processes run at a time. Closing the iterator early stops every process still running."""
    ctx = multiprocessing.get_context("fork")
    waiting, running = list(range(len(items))), {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                i = waiting.pop(0)
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_run_one, args=(send, fn, items[i]), daemon=True)
                proc.start()
                with contextlib.suppress(OSError):
                    os.setpgid(proc.pid, proc.pid)  # its own group from the start (the child does the same)
                send.close()
                running[i] = (proc, recv, time.monotonic())
            ready = multiprocessing.connection.wait([r for _, r, _ in running.values()], timeout=0.05)
            for i, (proc, recv, started) in list(running.items()):
                result, why = None, None
                if recv in ready:
                    try:
                        result = recv.recv()
                    except EOFError:
                        proc.join()
                        why = f"the {what} process ended without a score (exit {proc.exitcode})"
                elif timeout is not None and time.monotonic() - started > timeout:
                    stop_group(proc)
                    why = f"{what} took longer than {timeout:g} s"
                else:
                    continue
                proc.join()
                recv.close()
                del running[i]
                yield i, result, why
    finally:
        for proc, recv, _ in running.values():  # an interrupted call leaves nothing running
            stop_group(proc)
            recv.close()


def _run_one(conn, fn: Callable[[Any], Any], item: Any) -> None:
    """A worker: its own process group (so that a stop reaches the programs it starts), SIGTERM turned into an exit
    that runs clean-up code, one thread for torch, one item."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    one_thread()
    conn.send(fn(item))
    conn.close()


def stop_group(proc, grace: float = 1.0) -> None:
    """Stop a worker and every program it started (its process group): SIGTERM, so that it can remove its temporary
    files, then SIGKILL after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        proc.join(grace if sig == signal.SIGTERM else None)
        if sig == signal.SIGTERM and proc.exitcode is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # what it started and left behind
            break


def one_thread() -> None:
    """A scoring worker uses one thread for torch-based components (N workers share the cores)."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
