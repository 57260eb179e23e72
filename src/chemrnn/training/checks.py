"""What the training runs share besides their configs' rules (:mod:`chemrnn.validate`): the precision a run uses
(the CLI's ``auto | 32 | bf16`` and Lightning's own ``32-true | bf16-mixed``, :data:`chemrnn.options.PRECISIONS`),
a readable input file, and the DDP processes and strategy."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..options import PRECISIONS
from ..utils import resolve_device
from ..validate import choice, refuse


def resolve_precision(precision: str, device: str = "auto") -> str:
    """Lightning's precision for a config value: ``32`` → ``32-true``, ``bf16`` → ``bf16-mixed``; ``auto`` →
    ``bf16-mixed`` on a CPU with native bf16 (AVX-512 bf16 / AMX: about 2× faster), ``32-true`` on GPUs and on
    CPUs without it. The resolved value is what the run records."""
    refuse(choice(PRECISIONS).problem("precision", precision), "training option")
    if precision != "auto":
        return PRECISIONS[precision]
    import torch

    if resolve_device(device) != "cpu":
        return "32-true"
    return "bf16-mixed" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "32-true"


def readable(path: Path, what: str) -> None:
    """Refuse a path that is not a readable file (:class:`InputError` naming it)."""
    if not path.exists():
        raise InputError(f"no such file ({what})", path)
    if not path.is_file():
        raise InputError(f"not a file ({what})", path)
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror})", path) from None


def distributed(cfg, accelerator: str) -> tuple:
    """Lightning's ``devices`` and ``strategy`` for a config with ``devices``, ``num_nodes`` and ``strategy``:
    ``devices`` None is one process on a CPU and every GPU otherwise (the former default); ``auto`` with more
    than one process is ``ddp`` (Lightning's own ``auto`` would pick ``ddp_fork`` or ``ddp_spawn`` in some
    environments, which do not run the code after ``fit`` in every process)."""
    devices = cfg.devices if cfg.devices else ("auto" if accelerator != "cpu" else 1)
    many = devices == "auto" or devices * cfg.num_nodes > 1
    strategy = "ddp" if cfg.strategy == "auto" and many and devices != "auto" else cfg.strategy
    return devices, strategy
