"""One process per run directory: an exclusive ``fcntl.flock`` on ``RUN/.lock`` for the whole run (``lm train``,
``property train``, ``design run``).

Two ``lm train -o RUN`` at once used to both exit 0 with doubled log rows; now the second one stops at once with
an :class:`InputError` (exit 2) that names the holder (pid, host and command, written into the lock file). The
lock is the kernel's: it goes away with the process, even after ``kill -9``, so a stale file never blocks a rerun.
Under DDP only the launching process (rank 0) takes it; the ranks it starts run inside its lock.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import InputError

LOCK_NAME = ".lock"
# set by Lightning's launcher (and by torchrun / SLURM) in the processes it starts for ranks other than 0
_RANK_VARIABLES = ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID")


def is_launched_rank() -> bool:
    """True in a process that a DDP launcher started for a rank other than 0."""
    return any(os.environ.get(v, "0") not in ("", "0") for v in _RANK_VARIABLES)


def holder(run_dir: str | os.PathLike) -> str:
    """Who holds (or last held) the lock of ``run_dir``, as written into the lock file."""
    try:
        info = json.loads((Path(run_dir) / LOCK_NAME).read_text() or "{}")
    except (OSError, ValueError):
        return "unknown process"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}: {info.get('command')}"


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike, command: str | None = None):
    """Hold the exclusive lock of ``run_dir`` (made if missing) for the ``with`` block; refuse if another process
    holds it. A rank started by a DDP launcher does not lock (its launcher holds the lock)."""
    if is_launched_rank():
        yield
        return
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InputError(f"another run is using this run directory ({holder(run_dir)}); wait for it to "
                         f"finish or choose another --output", run_dir) from None
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": command or " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
