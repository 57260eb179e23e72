"""What every run records next to its outputs: config, seed, data hash, package versions, hardware."""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from .io import atomic_write, sha256_of


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("chemrnn", "torch", "rdkit", "lightning", "numpy", "fcd", "selfies"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:  # not installed
            continue
    return out


def hardware() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(), "system": platform.system()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:
        pass
    return info


def data_hash(path: str | os.PathLike) -> str:
    return sha256_of(path)


def record(run_dir: str | os.PathLike, config: dict, data: str | os.PathLike | None = None) -> dict:
    """Write ``config.json`` (config, command line, versions, hardware, data hash) into ``run_dir``."""
    info = {"config": config, "command": sys.argv, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": versions(), "hardware": hardware()}
    if data is not None and Path(data).is_file():
        info["data"] = {"path": str(data), "sha256": data_hash(data)}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with atomic_write(Path(run_dir) / "config.json") as fh:
        json.dump(info, fh, indent=1, default=str)
    return info


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=1, default=float)
