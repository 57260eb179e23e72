"""What both training loops share: the learning-rate schedule (linear warm-up, then cosine decay that follows
whichever of steps and time budget is further along, so a time-capped run still anneals), the Lightning
Trainer's common settings (accelerator, DDP processes and strategy, precision, clipping, no sanity steps, our own
distributed batches) and, under DDP, the loss of the global batch."""
from __future__ import annotations

import math

from ..utils import resolve_device
from ._log import quiet_lightning
from .checks import distributed


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float, time_fraction: float = 0.0,
                  decay_after_warmup: bool = True) -> float:
    """The learning rate's factor at ``step`` of ``total``: linear warm-up over ``warmup`` steps, then cosine decay
    to ``min_ratio``. The decay's progress is the larger of the steps done (counted from the end of the warm-up, or
    from step 0 with ``decay_after_warmup=False``) and ``time_fraction``, the time budget spent; a spent budget is
    ``min_ratio`` at once."""
    if time_fraction >= 1.0:
        return min_ratio
    if step < warmup:
        return (step + 1) / warmup
    steps_done = (step - warmup) / max(1, total - warmup) if decay_after_warmup else step / max(1, total)
    done = min(1.0, max(steps_done, time_fraction))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * done))


def make_lightning_trainer(cfg, callbacks: list, verbose: bool, clip: float, **settings):
    """A Lightning Trainer for a training config with ``device``, ``devices``, ``num_nodes``, ``strategy`` and
    ``precision``: every process runs the whole command (DDP, :func:`.checks.distributed`), batches are spread by
    our own samplers (no distributed sampler, data reloaded each epoch), no sanity validation, no model summary,
    gradients clipped at ``clip``; TF32 matmuls on a GPU; Ctrl-C taken at a batch boundary (:class:`.CtrlCAtBatch`).
    ``settings`` are the loop's own (steps or epochs, validation interval, logger, checkpointing)."""
    import torch

    from .callbacks import CtrlCAtBatch

    L = quiet_lightning()
    accel = resolve_device(cfg.device)
    devices, strategy = distributed(cfg, accel)
    if accel == "gpu":  # TF32 tensor cores for float32 matmuls (cuDNN's LSTM uses them already)
        torch.set_float32_matmul_precision("high")
    return L.Trainer(accelerator=accel, devices=devices, num_nodes=cfg.num_nodes, strategy=strategy,
                     precision=cfg.precision, callbacks=[*callbacks, CtrlCAtBatch()], enable_progress_bar=verbose,
                     enable_model_summary=False, num_sanity_val_steps=0, gradient_clip_val=clip,
                     use_distributed_sampler=False, reload_dataloaders_every_n_epochs=1, **settings)


def global_batch_mean(strategy, total, count, world: int):
    """Under DDP, the mean of a loss over the *global* batch (every rank's share), as one process holding the whole
    batch computes it: DDP averages the ranks' gradients, so each rank returns its own ``total`` times ``world`` over
    the global ``count`` (one all-reduce of two numbers a step). Returns ``(loss to backpropagate, the global
    mean (detached, for the log), the global count)``."""
    import torch

    summed = strategy.reduce(torch.stack([total.detach().float(), count.detach().float()]), reduce_op="sum")
    n = summed[1].clamp(min=1)
    return total * world / n, summed[0] / n, summed[1]
