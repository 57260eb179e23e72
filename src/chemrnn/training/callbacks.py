"""Lightning callbacks shared by both model families (DESIGN.md layer 3: "callbacks (CSV log, timing)").

- :class:`Timing`: the run's clock, kept across resumed sittings (its state rides in the checkpoint); with a time
  budget it tells the module the fraction of the budget spent (so the LR schedule anneals by time too) and stops
  the run when it is spent.
- :class:`CsvLog`: ``log.csv``, the learning curve, one file across sittings: rows written after the checkpoint a
  run resumes from are dropped, ``elapsed_s`` is the total over all sittings, a last row marks the final step.
- :class:`RngState`: Python's, NumPy's and PyTorch's random states in the checkpoint, so that dropout after a
  resume draws what the uninterrupted run would have drawn.
- :class:`BestWeights`: the best validation state_dict kept in memory (no checkpoint to reload, so no
  ``torch.load(weights_only=False)``).
- :class:`EpochCheckpoint`: ``last.ckpt`` at the end of every epoch (runs that checkpoint by epochs, as a
  fine-tune does), written atomically.
- :class:`CtrlCAtBatch`: Ctrl-C during ``fit`` taken at the next batch boundary, where Lightning shuts down cleanly.
- :class:`PlainProgress` / :func:`progress_bar`: progress as plain lines where stderr is not a terminal (a log
  file gets lines, not a bar redrawn with carriage returns); Lightning's bar on a terminal.
"""
from __future__ import annotations

import csv
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import CtrlC
from ..io import publish, truncate_csv
from ._log import quiet_lightning

L = quiet_lightning()


class Timing(L.Callback):
    """Wall-clock time in ``fit`` over all sittings; with ``budget_minutes``, a time cap that anneals.

    Before each training batch it sets ``pl_module.time_fraction`` (the budget spent, rank 0's clock broadcast to
    every rank); after the batch in which the fraction reached 1 it stops the run. The LR schedule reads the same
    fraction, so a time-capped run ends on the schedule's last value (a time-capped run anneals).
    """

    def __init__(self, budget_minutes: float | None = None):
        self.budget = budget_minutes * 60 if budget_minutes else None
        self.offset = 0.0  # seconds spent in earlier sittings
        self.started: float | None = None
        self.fraction = 0.0

    def elapsed(self) -> float:
        """Seconds of training over every sitting so far."""
        return self.offset + (time.perf_counter() - self.started if self.started is not None else 0.0)

    def on_train_start(self, trainer, pl_module):
        self.started = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.budget:
            self.fraction = float(trainer.strategy.broadcast(self.elapsed() / self.budget))
            pl_module.time_fraction = self.fraction

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.budget and self.fraction >= 1.0:
            trainer.should_stop = True

    def state_dict(self) -> dict:
        return {"elapsed_s": self.elapsed()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.offset = float(state_dict.get("elapsed_s", 0.0))


class CsvLog(L.Callback):
    """Append the learning curve to ``log.csv`` every ``every`` steps, at each validation and at the end.

    ``epoch`` is the (0-based) epoch of the last batch trained, from the step and ``steps_per_epoch`` (a
    callable, known once the data is set up), so it does not depend on how many sittings the run took.
    """

    FIELDS = ["step", "epoch", "train_loss", "lr", "tokens_per_s", "val_nll", "validity", "elapsed_s"]

    def __init__(self, path: str | Path, timing: Timing, steps_per_epoch=None, every: int = 50,
                 fields: list[str] | None = None):
        self.path, self.timing, self.every = Path(path), timing, every
        self.steps_per_epoch = steps_per_epoch
        self.fields = fields or self.FIELDS
        self.last_step: int | None = None
        self.last_row: dict | None = None  # the row written last in this sitting, and where it starts
        self.last_offset = 0

    def on_train_start(self, trainer, pl_module):
        if trainer.is_global_zero:  # a resumed run drops the rows its killed sitting wrote after the checkpoint
            truncate_csv(self.path, trainer.global_step)  # rows of steps after the checkpoint go
        self.last_step = trainer.global_step

    def epoch(self, trainer) -> int:
        per = self.steps_per_epoch() if self.steps_per_epoch else None
        if not per:
            return trainer.current_epoch
        return max(0, trainer.global_step - 1) // per

    def row(self, trainer, **extra) -> dict:
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row = {"step": trainer.global_step, "epoch": self.epoch(trainer), "train_loss": m.get("train_loss"),
               "tokens_per_s": m.get("tokens_per_s"),
               "lr": trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None,
               "val_nll": None, "validity": None, "elapsed_s": round(self.timing.elapsed(), 1)}
        row.update(extra)
        return {k: row.get(k) for k in self.fields}

    def write(self, trainer, **extra) -> None:
        """Append a row; a second row for the same step (a validation after the step's own row) is merged into
        the first, so each step has one row."""
        if not trainer.is_global_zero:
            return
        row = self.row(trainer, **extra)
        new = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "r+" if not new else "w", newline="") as fh:
            if self.last_row is not None and self.last_row["step"] == row["step"]:
                row = {k: row[k] if row[k] is not None else self.last_row[k] for k in self.fields}
                fh.seek(self.last_offset)
                fh.truncate()
            else:
                fh.seek(0, 2)
            w = csv.DictWriter(fh, fieldnames=self.fields)
            if new:
                w.writeheader()
            self.last_offset = fh.tell()
            w.writerow(row)
        self.last_step, self.last_row = trainer.global_step, row

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step % self.every == 0:
            self.write(trainer)

    def on_validation_end(self, trainer, *args):
        if not trainer.sanity_checking:
            m = {k: float(v) for k, v in trainer.callback_metrics.items()}
            self.write(trainer, val_nll=m.get("val_nll"), validity=m.get("validity"))

    def on_train_end(self, trainer, pl_module):
        if self.last_step != trainer.global_step:  # the curve ends at the final step
            self.write(trainer)


class RngState(L.Callback):
    """Random states saved with each checkpoint and restored when training resumes (after the data loaders are
    made, just before the first resumed step)."""

    def __init__(self):
        self.saved: dict | None = None

    def state_dict(self) -> dict:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        version, state, gauss_next = random.getstate()
        return {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos,
                                                           has_gauss, gauss],
                "python": [version, list(state), gauss_next]}

    def load_state_dict(self, state_dict: dict) -> None:
        self.saved = state_dict

    def on_train_start(self, trainer, pl_module):
        if not self.saved:
            return
        s, self.saved = self.saved, None
        torch.set_rng_state(s["torch"])
        kind, keys, pos, has_gauss, gauss = s["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        version, state, gauss_next = s["python"]
        random.setstate((version, tuple(state), gauss_next))


class BestWeights(L.Callback):
    """Keep a CPU copy of the module's state_dict whenever ``monitor`` improves (lower is better); ``restore``
    loads it back. Replaces reloading the best Lightning checkpoint with ``torch.load(weights_only=False)``.

    With ``path``, the best weights are also written there (safetensors, atomically) and the best value, step and
    epoch ride in the checkpoint, so that a resumed run still restores the best epoch of every sitting."""

    def __init__(self, monitor: str = "val_loss", path: str | Path | None = None):
        self.monitor = monitor
        self.path = Path(path) if path is not None else None
        self.best: float | None = None
        self.state: dict | None = None
        self.epoch: int | None = None
        self.step: int | None = None

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        if self.best is None or value < self.best:
            self.best, self.epoch, self.step = value, trainer.current_epoch, trainer.global_step
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()}
            if self.path is not None and trainer.is_global_zero:
                self._write()

    def _write(self) -> None:
        from safetensors.torch import save_file

        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        save_file({k: v.contiguous() for k, v in self.state.items()}, str(tmp))
        publish(tmp, self.path)

    def state_dict(self) -> dict:
        return {"best": self.best, "epoch": self.epoch, "step": self.step}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.epoch, self.step = state_dict.get("best"), state_dict.get("epoch"), state_dict.get("step")

    def restore(self, pl_module) -> bool:
        """Load the best weights into ``pl_module``; False when no validation ever ran."""
        if self.state is None and self.best is not None and self.path is not None and self.path.exists():
            from safetensors.torch import load_file

            self.state = load_file(str(self.path))
        if self.state is None:
            return False
        pl_module.load_state_dict(self.state)
        return True


class EpochCheckpoint(L.pytorch.callbacks.Checkpoint):
    """Write the resumable checkpoint ``path`` at the end of every training epoch, after that epoch's validation,
    early stopping and best weights have seen it (a :class:`~lightning.pytorch.callbacks.Checkpoint` runs after
    the other callbacks). Lightning's ModelCheckpoint with ``save_top_k=0`` writes ``last.ckpt`` at epoch ends
    only in some releases; this one does in all. The file is written beside and renamed into place, so a kill
    leaves the previous epoch's checkpoint whole."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._last_global_step_saved = -1  # ModelCheckpoint's name for it: the training loop reads either

    def on_train_epoch_end(self, trainer, pl_module):
        tmp = self.path.with_name(self.path.name + ".tmp")
        trainer.save_checkpoint(tmp)  # every rank takes part; rank 0 writes
        if trainer.is_global_zero:
            publish(tmp, self.path)
        trainer.strategy.barrier("EpochCheckpoint")
        self._last_global_step_saved = trainer.global_step


class CtrlCAtBatch(L.Callback):
    """Ctrl-C during ``fit``, raised at the next batch boundary instead of wherever the signal lands.

    A KeyboardInterrupt raised at an arbitrary point of the loop can be lost (raised inside a finalizer, Python
    only prints it and training goes on) or replaced by another error (Lightning's loader state left half-set).
    With :meth:`chemrnn.errors.CtrlC.handler` as the SIGINT handler, the first Ctrl-C inside ``fit`` only notes
    it; this callback raises KeyboardInterrupt before the next training or validation batch, where Lightning's own
    interrupt handling runs."""

    @staticmethod
    def _raise_if_pressed():
        if CtrlC.pressed:
            CtrlC.in_fit = False  # a further Ctrl-C during Lightning's shutdown raises at once
            raise KeyboardInterrupt

    def on_train_start(self, trainer, pl_module):
        CtrlC.in_fit = True
        self._raise_if_pressed()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._raise_if_pressed()

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self._raise_if_pressed()

    def on_train_end(self, trainer, pl_module):
        CtrlC.in_fit = False

    def on_exception(self, trainer, pl_module, exception):
        CtrlC.in_fit = False


class PlainProgress(L.pytorch.callbacks.ProgressBar):
    """Progress as whole lines on stderr: after each validation and at each epoch's end (one line when the two
    coincide), and at most every ``every_s`` seconds in between
    (``epoch 3 · step 1,200/7,000 · train_loss 0.512 · val_nll 0.481 · 41 s (validation)``)."""

    def __init__(self, every_s: float = 60.0):
        super().__init__()
        self.every_s, self._enabled, self._step = every_s, True, -1
        self._start = self._last = time.monotonic()  # a validation outside fit (a finished run's) has a clock too

    def disable(self) -> None:  # Lightning turns the bar off on every process but rank 0
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def line(self, trainer, pl_module, where: str = "") -> str:
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        if total is None and trainer.max_epochs and trainer.max_epochs > 0:
            per_epoch = trainer.num_training_batches
            total = per_epoch * trainer.max_epochs if isinstance(per_epoch, int) else None
        step = f"step {trainer.global_step:,}" + (f"/{total:,}" if total else "")
        metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k != "v_num"}
        shown = [f"{k} {float(v):.4g}" if isinstance(v, (int, float)) or hasattr(v, "item") else f"{k} {v}"
                 for k, v in metrics.items()]
        parts = [f"epoch {trainer.current_epoch}", step, *shown, f"{time.monotonic() - self._start:.0f} s"]
        return " · ".join(parts) + (f" ({where})" if where else "")

    def _say(self, trainer, pl_module, where: str = "") -> None:
        if self._enabled:
            print(self.line(trainer, pl_module, where), file=sys.stderr, flush=True)
            self._last, self._step = time.monotonic(), trainer.global_step

    def on_train_start(self, trainer, pl_module):
        self._start = self._last = time.monotonic()
        self._step = -1

    def on_train_batch_end(self, trainer, pl_module, *args):
        if time.monotonic() - self._last >= self.every_s:
            self._say(trainer, pl_module)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._say(trainer, pl_module, "validation")

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.global_step != self._step:  # not when the epoch's validation line was just printed
            self._say(trainer, pl_module, "epoch end")


def progress_bar(refresh_rate: int = 20, stream=None):
    """The progress callback for a run that shows progress: Lightning's bar where ``stream`` (stderr) is a
    terminal, else :class:`PlainProgress` lines."""
    stream = sys.stderr if stream is None else stream
    if getattr(stream, "isatty", lambda: False)():
        return L.pytorch.callbacks.TQDMProgressBar(refresh_rate=refresh_rate)
    return PlainProgress()
