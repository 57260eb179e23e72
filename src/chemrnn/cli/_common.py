"""What every command group shares: the consoles (data to stdout, messages to stderr), the global flags, the
choices of the options spelled the same everywhere, Ctrl-C during training, step progress and the reader of input
rows."""
from __future__ import annotations

import contextlib
import re
import sys
import time
from typing import Literal

from rich.console import Console
from rich.markup import escape

# ------------------------------------------------------------------------------------ option choices
# One list per shared option, so that every command offers the same values and a bad one (on the command line or
# in a --config file) is refused at parse time, exit 2, with the valid ones listed. Use the Literal aliases as the
# option's annotation: ``cell: Cell = typer.Option("gru", "--cell", help=...)``.
from ..errors import InputError
from ..options import (CELLS, CLI_PRECISIONS as PRECISIONS, DEVICES, FINETUNE_UNKNOWN, GRU_FORMS, IMPLS,
                       LIBRARY_METHODS, LM_PRESETS, LR_SCHEDULES, POOLINGS, RECIPE_CHOICES as RECIPES, SPLITS,
                       QUALITY_PRESETS, STRATEGIES, TOKENIZERS, UNKNOWN_TOKENS)

Cell = Literal[CELLS]  # Literal[("a", "b")] is Literal["a", "b"]
Impl = Literal[IMPLS]
Pooling = Literal[POOLINGS]
Split = Literal[SPLITS]
Recipe = Literal[RECIPES]
TokenizerName = Literal[TOKENIZERS]
Device = Literal[DEVICES]
Precision = Literal[PRECISIONS]
UnknownTokens = Literal[UNKNOWN_TOKENS]
Strategy = Literal[STRATEGIES]
GruForm = Literal[GRU_FORMS]
LMPreset = Literal[LM_PRESETS]
LRSchedule = Literal[LR_SCHEDULES]
FinetuneUnknown = Literal[FINETUNE_UNKNOWN]
LibraryMethod = Literal[LIBRARY_METHODS]
QualityPreset = Literal[QUALITY_PRESETS]

DEVICE_HELP = "auto (a GPU where there is one) | cpu | gpu (cuda is the same)."
PRECISION_HELP = ("auto (bf16 on a CPU with native bf16: AVX-512 bf16 or AMX; float32 on GPUs and other CPUs) | 32 "
                  "| bf16.")
INFERENCE_PRECISION_HELP = ("32 (default: float32; a molecule's value does not depend on the other molecules in its "
                            "batch) | bf16 | auto (bf16 where the CPU/GPU has native bf16: faster, but values move by "
                            "about 1e-3 with the batch a molecule is read in).")
SKIP_BAD_LINES_HELP = ("Reject lines that cannot be read (not UTF-8, over 100,000 characters) and go on, instead of "
                       "stopping at the first (exit 2).")


# ------------------------------------------------------------------------------------------ consoles
def _console(stderr: bool) -> Console:
    """A console that wraps only on a terminal: piped output keeps whole lines and paths. (The stream is looked up
    at each print, so redirections made later, e.g. by tests, are followed.)"""
    tty = (sys.stderr if stderr else sys.stdout).isatty()
    return Console(stderr=stderr, soft_wrap=not tty, width=None if tty else 10_000,
                   emoji=False)  # "chembl:train: 135,684" is not an emoji code (:train: → 🚋)


console = _console(False)  # data: tables and values that ARE the requested result
err_console = _console(True)  # messages: summaries, progress, errors
state = {"debug": False, "quiet": False}


def say(*args, **kwargs):
    """A message for the user (not data), on stderr: printed unless ``--quiet``. Text that comes from users or
    chemistry (paths, SMILES: ``[nH]``) must be passed through :func:`rich.markup.escape`, or as ``Text``."""
    if not state["quiet"]:
        kwargs.setdefault("highlight", False)
        err_console.print(*args, **kwargs)


class Steps:
    """Progress of a long job, on stderr, silent with ``--quiet``: each step with its elapsed time, and a bar where a
    step counts (``done`` of ``total``). Call it as the API's ``progress(message, done=None, total=None)``; a new
    message starts a new step; a long one is printed whole above the bars, which show its head (before " (").
    A terminal gets Rich's live display; a log or a pipe gets one line per finished step
    with its time (and, in a step that runs long, a line every 30 s), so that bad input refused at the start still
    makes a single error line. A step that fails is not shown as done. ``seconds`` holds each finished step's time.
    :meth:`note` prints a line at once (the API calls it, where there is one, before a slow one-time step).
    """

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._bar = None
        self._task = None
        self._current: str | None = None
        self._shown = ""
        self._t0 = self._said = 0.0

    def __enter__(self):
        if not state["quiet"] and err_console.is_terminal:
            from rich.progress import (BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            from rich.table import Column

            # the description gives way (ellipsis) so that the bar and the times always fit the terminal
            self._bar = Progress(SpinnerColumn(finished_text="✓"),
                                 TextColumn("{task.description}", table_column=Column(ratio=1, no_wrap=True,
                                                                                      overflow="ellipsis")),
                                 BarColumn(bar_width=16), TaskProgressColumn(), TimeElapsedColumn(),
                                 TimeRemainingColumn(), console=err_console, expand=True)
            self._bar.start()
        return self

    def _finish(self) -> None:
        if self._current is None:
            return
        took = self.seconds[self._current] = round(time.perf_counter() - self._t0, 2)
        if self._bar is not None:
            total = self._bar.tasks[-1].total or 1
            self._bar.update(self._task, total=total, completed=total)
            self._bar.stop_task(self._task)
        else:
            say(escape(self._current) + f": {took:.1f} s")
        self._current = None

    def __call__(self, message: str, done: int | None = None, total: int | None = None) -> None:
        now = time.perf_counter()
        if message != self._current:
            self._finish()
            self._current, self._t0, self._said = message, now, now
            if self._bar is not None:
                shown = message
                if len(message) > err_console.width - 48:  # what the bar and the times leave of the line
                    # the whole message once, above the bars; the bar keeps its head (the part before " (")
                    err_console.print(escape(message), highlight=False, style="dim")
                    shown = message.split(" (", 1)[0]
                self._shown = shown
                self._task = self._bar.add_task(escape(shown), total=total, completed=done or 0)
            return
        if self._bar is not None:  # without a total, the count goes into the description
            more = {} if total or done is None else {"description": escape(f"{self._shown}: {done:,}")}
            self._bar.update(self._task, completed=done, total=total, **more)
        elif done is not None and now - self._said >= (30 if self._said > self._t0 else 10):
            self._said = now
            of = f" of {total:,}" if total else ""
            say(escape(message) + f": {done:,}{of} after {now - self._t0:.0f} s")

    def note(self, message: str) -> None:
        """A line shown at once, above the bars on a terminal (a step's own line in a log comes when it ends): what
        a slow step is about to do, or what it left behind."""
        say(escape(message))

    def __exit__(self, kind, exc, tb):
        if kind is None:
            self._finish()
        elif self._bar is not None and self._task is not None:
            self._bar.remove_task(self._task)  # the step that failed: the error line says why
        if self._bar is not None:
            self._bar.stop()
        return False


# ------------------------------------------------------------------------------------------- options
@contextlib.contextmanager
def as_options(renamed: dict[str, str] | None = None):
    """A refused config's message in the command line's words: each config field that is an option of the
    running command named as that option (``hidden_size`` → ``--hidden``, ``max_epochs`` → ``--epochs``).
    ``renamed``: config field → the command's parameter, where they differ; the others share their name."""
    try:
        yield
    except InputError as exc:
        cmd = state.get("command")
        if exc.path is not None or cmd is None or " option: " not in exc.reason:
            raise
        longest = {p.name: max((o for o in p.opts if o.startswith("--")), key=len, default=None)
                   for p in cmd.params if getattr(p, "param_type_name", "") == "option"}
        spelled = {field: longest.get((renamed or {}).get(field, field)) for field in
                   set(longest) | set(renamed or {})}
        spelled = {k: v for k, v in spelled.items() if v}
        head, _, problems = exc.reason.partition(": ")
        text = re.sub(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(spelled, key=len, reverse=True))) + r")\b",
                      lambda m: spelled[m.group(1)], problems) if spelled else problems
        raise InputError(f"{head}: {text}") from None


# --------------------------------------------------------------------------------------- Ctrl-C
@contextlib.contextmanager
def interruptible(kept):
    """Turn Ctrl-C during a training run into one line, ``kept()``: what was kept and how to go on (exit 130).
    Inside Lightning's loop the first Ctrl-C is taken at the next batch boundary
    (:class:`chemrnn.errors.CtrlC`); Lightning then exits with status 1, and the handler here notes that it was
    Ctrl-C. Outside the main thread Ctrl-C is left as it is."""
    import signal

    from ..errors import CtrlC, Interrupted

    CtrlC.reset()
    try:
        previous = signal.signal(signal.SIGINT, CtrlC.handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, SystemExit) and not CtrlC.pressed:
            raise
        raise Interrupted(kept()) from None
    finally:
        signal.signal(signal.SIGINT, previous)
        CtrlC.reset()


# ------------------------------------------------------------------------------------------- inputs
def bar_progress(bar, task):
    """A Rich progress bar's task as a ``progress(message, done=None, total=None)`` callback (the package's one
    progress protocol): it moves to ``done``."""
    def progress(message, done=None, total=None):
        if done is not None:
            bar.update(task, completed=done)
    return progress
