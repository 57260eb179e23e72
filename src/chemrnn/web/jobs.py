"""Background jobs of the web page: a queue per kind, one job of a kind at a time, each job's state in memory and,
for fine-tunes, on disk (``RUNS/.chemrnn-web/jobs/ID.json``), so that a reloaded page (or a restarted server)
finds its jobs again.

* ``sample`` jobs run in a thread of the server (the model is already loaded there); their record is on disk while
  they are queued or running (without a result), so that a server that was killed and started again says they
  were interrupted instead of not knowing them;
* ``finetune`` jobs run the command line (``python -m chemrnn lm finetune …``) in a subprocess whose output goes
  to ``ID.log``; the progress is read from Lightning's bar in that log; a non-zero exit is a failed job whose
  message is the command's one error line. The record names the process (its pid and its start time), so that
  a later server, after a crash of this one, can tell whether that process still runs and stop it on Cancel
  (never another process that was given the same pid).
"""
from __future__ import annotations

import copy
import itertools
import json
import math
import os
import queue
import re
import signal
import subprocess
import threading
import time
import traceback
import uuid
from pathlib import Path

STATES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
ORPHAN_GRACE_S = 10  # seconds an earlier server's job process is given to end on SIGTERM before SIGKILL
_BAR = re.compile(r"Epoch (\d+):\s+(\d+)%\|[^|]*\|\s*(\d+)/(\d+)")
_ORDER = itertools.count()  # jobs in the order they were submitted


class Job:
    def __init__(self, kind: str, params: dict, title: str, id: str | None = None):
        self.id = id or uuid.uuid4().hex[:12]
        self.kind, self.params, self.title = kind, params, title
        self.state = "queued"
        self.progress: float | None = 0.0
        self.message = "queued"
        self.created = time.time()
        self.started: float | None = None
        self.ended: float | None = None
        self.result: dict | None = None
        self.error: str | None = None
        self.pid: int | None = None
        self.proc_start: str | None = None  # the start time of the process (``pid``), which tells it from another
        self.cancel_requested = False
        self.orphan = False  # running in a process that an earlier server started
        self.order = next(_ORDER)
        self.position: int | None = None  # while queued: 1 runs next (see JobQueue.submit)

    def public(self, with_result: bool = True) -> dict:
        now = self.ended or time.time()
        d = {"id": self.id, "kind": self.kind, "title": self.title, "state": self.state, "progress": self.progress,
             "message": self.message, "error": self.error, "created": self.created, "params": self.params,
             "seconds": round(now - self.started, 1) if self.started else 0.0}
        d["queue_position"] = self.position if self.state == "queued" else None
        if d["queue_position"]:
            d["message"] = f"queued: {ordinal(self.position)}"
        if with_result:
            d["result"] = self.result
        return d

    def to_disk(self) -> dict:
        return {**self.public(with_result=self.kind == "finetune"), "started": self.started, "ended": self.ended,
                "pid": self.pid, "proc_start": self.proc_start}

    @classmethod
    def from_disk(cls, d: dict) -> "Job":
        job = cls(d["kind"], d["params"], d["title"], d["id"])
        for k in ("state", "progress", "message", "error", "created", "started", "ended", "result", "pid",
                  "proc_start"):
            setattr(job, k, d.get(k))
        return job


def process_start(pid: int | None) -> str | None:
    """When process ``pid`` started (the kernel's clock ticks since boot, from ``/proc``; ``ps``'s start time where
    there is no ``/proc``), or None when there is no such process or it has ended (a zombie). Two processes given
    the same pid one after the other have different start times."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:  # no /proc (macOS)
            out = subprocess.run(["ps", "-o", "stat=,lstart=", "-p", str(pid)], capture_output=True, text=True,
                                 timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        return out.split(None, 1)[1] if out and not out.startswith("Z") and " " in out else None
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command's name, which may hold spaces and ')'
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def same_process(pid: int | None, start: str | None) -> bool:
    """Whether ``pid`` is still the process a job recorded: alive, not a zombie, started when it was recorded to
    have started. A record without the start time (written by an older server) is believed when the process is a
    chemrnn command."""
    now = process_start(pid)
    if now is None:
        return False
    if start is not None:
        return now == start
    try:
        return b"chemrnn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


class JobQueue:
    """Jobs by id; a worker thread per kind runs them one at a time, in order."""

    def __init__(self, state_dir: Path | None, runners: dict, keep: int = 50, depth: dict | None = None):
        self.state_dir = state_dir
        self.depth = depth or {}  # kind -> the most jobs that may wait (beyond the one running); more: QueueFull
        self.runners = runners  # kind -> callable(job, queue) that sets job.result or raises
        self.keep = keep
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self._ending = threading.Lock()  # a job's end and a cancel of it: one at a time (see _end)
        self._disk = threading.Lock()  # one write of a job file at a time (they share its .tmp)
        self.queues = {kind: queue.Queue() for kind in runners}
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopping = False
        self._load()
        for kind in runners:
            threading.Thread(target=self._worker, args=(kind,), daemon=True, name=f"chemrnn-web-{kind}").start()

    # ---------------------------------------------------------------------------------------- disk
    def _path(self, job: Job, suffix: str = ".json") -> Path | None:
        return self.state_dir / f"{job.id}{suffix}" if self.state_dir else None

    def save(self, job: Job) -> None:
        """A fine-tune's record, always; another job's only while it is queued or running (its result stays in
        memory: a later server finds it interrupted, then forgets it)."""
        if self.state_dir is None:
            return
        p = self._path(job)
        if job.kind != "finetune" and job.state not in ("queued", "running"):
            with self._disk:
                p.unlink(missing_ok=True)
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        with self._disk:
            tmp.write_text(json.dumps(job.to_disk()))
            os.replace(tmp, p)

    def _load(self) -> None:
        """Jobs of an earlier server: a running one whose process is gone was interrupted."""
        if self.state_dir is None or not self.state_dir.is_dir():
            return
        for p in sorted(self.state_dir.glob("*.json")):
            try:
                job = Job.from_disk(json.loads(p.read_text()))
            except (OSError, ValueError, KeyError):
                continue
            if job.state in ("queued", "running"):
                if job.state == "running" and job.kind == "finetune" and same_process(job.pid, job.proc_start):
                    job.message = ("still running in a process of an earlier server (its progress is not followed; "
                                   "Cancel stops it)")
                    job.orphan = True
                else:
                    job.state, job.message = "interrupted", "the server stopped before the job ended"
                    job.ended = job.ended or time.time()
                    self.save(job)
            self.jobs[job.id] = job

    # ---------------------------------------------------------------------------------------- use
    def submit(self, kind: str, params: dict, title: str) -> Job:
        """A job in its kind's queue, with its place in it; :class:`QueueFull` when as many wait as the kind's
        ``depth`` allows."""
        job = Job(kind, params, title)
        with self.lock:
            waiting = self._renumber(kind)
            limit = self.depth.get(kind)
            if limit is not None and waiting >= limit:
                wait = self._retry_after(kind)
                raise QueueFull(f"too many {kind} jobs waiting ({waiting:,}, the most the queue holds, besides the "
                                f"one running): try again in about {wait} s", wait)
            self.jobs[job.id] = job
            self._trim()
            self._renumber(kind)
        self.save(job)
        self.queues[kind].put(job.id)
        return job

    def _trim(self) -> None:
        done = [j for j in self.jobs.values() if j.state not in ("queued", "running")]
        for j in sorted(done, key=lambda j: j.created)[: max(0, len(self.jobs) - self.keep)]:
            del self.jobs[j.id]

    def _renumber(self, kind: str) -> int:
        """Each queued job of ``kind`` its place (1: it runs next), in the order they were submitted; how many
        wait."""
        waiting = sorted((j for j in list(self.jobs.values()) if j.kind == kind and j.state == "queued"),
                         key=lambda j: j.order)
        for k, j in enumerate(waiting, 1):
            j.position = k
        return len(waiting)

    def _retry_after(self, kind: str) -> int:
        """Seconds until a place in ``kind``'s queue is likely free: the time the last jobs of that kind took
        (the median of up to five), 10 s before any has run."""
        done = sorted((j for j in list(self.jobs.values()) if j.kind == kind and j.state == "finished"
                       and j.started and j.ended), key=lambda j: j.ended)[-5:]
        took = sorted(j.ended - j.started for j in done)
        return max(1, min(600, math.ceil(took[len(took) // 2]))) if took else 10

    def get(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is not None:
            self._settle_orphan(job)
            if job.state == "queued":
                with self.lock:
                    self._renumber(job.kind)
        return job

    def list(self) -> list[Job]:
        with self.lock:
            for kind in self.queues:
                self._renumber(kind)
        for job in list(self.jobs.values()):
            self._settle_orphan(job)
        return sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)

    def _settle_orphan(self, job: Job) -> None:
        """A job an earlier server started, whose process has now ended: its log says how. Request threads may
        ask at once: one settles it, through :meth:`_end` (disk first, then the job others read)."""
        if not getattr(job, "orphan", False) or same_process(job.pid, job.proc_start):
            return
        with self._ending:
            if not job.orphan:
                return
            job.orphan = False
        log = self._path(job, ".log")
        error = _error_line(log) if log is not None else ""
        tail = _tail(log) if log is not None else ""
        if job.cancel_requested:
            end = {"state": "cancelled", "error": None,
                   "message": "cancelled: its process (started by an earlier server) was stopped"}
        elif "error:" in tail:
            end = {"state": "failed", "error": error, "message": "failed"}
        elif job.kind == "finetune" and "fine-tuned model:" in tail:
            end = {"state": "finished", "progress": 1.0, "message": "finished (followed by an earlier server)"}
        else:
            end = {"state": "interrupted", "message": "its process ended without saying how"}
        self._end(job, {**end, "ended": time.time()})

    def cancel(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is not None and getattr(job, "orphan", False):
            return self._cancel_orphan(job)
        with self._ending:  # not between a job's final save and its final state (which it would overwrite)
            if job is None or job.state not in ("queued", "running"):
                return job
            job.cancel_requested = True
            if job.state == "queued":
                job.state, job.message, job.ended = "cancelled", "cancelled before it started", time.time()
            proc = self.procs.get(job_id)
            if proc is not None:
                _stop(proc)
            self.save(job)
        return job

    def _cancel_orphan(self, job: Job, grace: float = ORPHAN_GRACE_S) -> Job:
        """Stop the process of a job that an earlier server started (its process group: SIGTERM, then SIGKILL after
        ``grace`` seconds), once it is known to be that process; the job is then recorded as cancelled. Returns when
        the process has ended (or could not be stopped, which the job's message then says)."""
        with self._ending:
            if not job.orphan:
                return job
            job.cancel_requested = True
        if same_process(job.pid, job.proc_start):
            job.message = "cancelling: stopping its process (started by an earlier server)"
            _signal_group(job.pid, signal.SIGTERM)
            t0 = time.time()
            while same_process(job.pid, job.proc_start) and time.time() - t0 < grace:
                time.sleep(0.1)
            if same_process(job.pid, job.proc_start):
                _signal_group(job.pid, signal.SIGKILL)
                t0 = time.time()
                while same_process(job.pid, job.proc_start) and time.time() - t0 < 5:
                    time.sleep(0.1)
        self._settle_orphan(job)
        if job.orphan:
            job.message = f"its process (pid {job.pid}, started by an earlier server) could not be stopped"
        return job

    def shutdown(self) -> None:
        """The server stops: running subprocesses are stopped, their jobs recorded as interrupted."""
        self.stopping = True
        for job_id, proc in list(self.procs.items()):
            _stop(proc)
            job = self.jobs.get(job_id)
            if job is not None and job.state == "running":
                job.state, job.message = "interrupted", "the server stopped before the job ended"
                job.ended = time.time()
                self.save(job)

    # ---------------------------------------------------------------------------------------- worker
    def _worker(self, kind: str) -> None:
        while True:
            job = self.jobs.get(self.queues[kind].get())
            if job is None or job.state != "queued" or self.stopping:
                continue
            job.state, job.started, job.message = "running", time.time(), "starting"
            self.save(job)
            end = {}
            try:
                self.runners[kind](job, self)
                if job.cancel_requested:
                    end = {"state": "cancelled", "message": "cancelled"}
                else:
                    end = {"state": "finished", "progress": 1.0,
                           "message": job.message if job.message != "starting" else "finished"}
            except JobFailed as exc:
                end = ({"state": "cancelled", "error": None, "message": "cancelled"} if job.cancel_requested
                       else {"state": "failed", "error": str(exc), "message": "failed"})
            except Exception as exc:  # a bug or an unexpected failure: the job says so, the server goes on
                end = {"state": "failed", "message": "failed", "error": f"{type(exc).__name__}: {exc}"}
                traceback.print_exc()
            if self.stopping:
                end.update(state="interrupted", message="the server stopped before the job ended")
            self._end(job, {"ended": time.time(), **end})  # ended before state: no ended job without its time

    def _end(self, job: Job, end: dict) -> None:
        """A job's final state goes to disk first, then into the job others read: whoever sees it ended finds the
        same on disk."""
        with self._ending:
            final = copy.copy(job)
            for key, value in end.items():
                setattr(final, key, value)
            self.save(final)
            for key, value in end.items():
                setattr(job, key, value)


def _signal_group(pid: int, sig: int) -> None:
    """``sig`` to the process group that ``pid`` leads (a job's process starts its own), else to ``pid`` alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except OSError:
        pass


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to a job's process group (the command and any worker it started)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            proc.terminate()


class JobFailed(Exception):
    """A job that ended without its result; the message is shown to the user."""


class QueueFull(Exception):
    """A job refused because its queue is full: the message says so, ``retry_after`` (seconds) says when to try
    again (HTTP 429 with ``Retry-After``)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, …, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def run_subprocess(job: Job, jobs: JobQueue, argv: list[str], log: Path, total_epochs: int | None = None,
                   env: dict | None = None) -> None:
    """Run ``argv``, its output into ``log``; follow Lightning's bar for the progress; raise :class:`JobFailed`
    with the command's error line on a non-zero exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    jobs.procs[job.id] = proc
    job.pid, job.proc_start = proc.pid, process_start(proc.pid)
    job.message = "preparing the actives"
    jobs.save(job)
    try:
        while proc.poll() is None:
            time.sleep(0.5)
            _follow(job, log, total_epochs)
    finally:
        jobs.procs.pop(job.id, None)
    _follow(job, log, total_epochs)
    if proc.returncode != 0:
        raise JobFailed(_error_line(log) or f"the command exited with code {proc.returncode}")


def _tail(log: Path, size: int = 8192) -> str:
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _follow(job: Job, log: Path, total_epochs: int | None) -> None:
    text = _tail(log)
    bars = _BAR.findall(text)
    if bars:
        epoch, _, done, per = (int(x) for x in bars[-1])
        if total_epochs:
            job.progress = min(0.99, (epoch + done / max(per, 1)) / total_epochs)
        job.message = f"training: epoch {epoch + 1}" + (f" of {total_epochs}" if total_epochs else "") + \
                      f", step {done} of {per} in this epoch"
    else:
        lines = [ln.strip() for ln in re.split(r"[\r\n]", text) if ln.strip()]
        if lines:
            job.message = lines[-1][:200]


def _error_line(log: Path) -> str:
    lines = [ln.strip() for ln in re.split(r"[\r\n]", _tail(log)) if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("error:"):
            return ln[len("error:"):].strip()
    return lines[-1][:300] if lines else ""
