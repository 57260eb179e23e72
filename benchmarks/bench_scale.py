"""Scale out: peak memory of a streamed run on 1 M vs 10 M SMILES, and 2-process DDP throughput on CPU.

Usage: CHEMRNN_DATA_DIR=../shared/data python benchmarks/bench_scale.py [OUT.json] [--steps N]
       [--parts stream,inmemory,ddp,cap]   (default: the first three; results are merged into OUT.json)

1. Memory: the MOSES training set (1.58 M lines) repeated into 1 M and 10 M lines, 10 gzipped shards each, under
   ``runs/bench_scale/`` (gitignored; written once, reused). Each set trains the tiny preset for a fixed number of
   steps with ``lm train --data 'DIR/*.smi.gz'`` (streamed: 1 reader process, shuffle buffer 10,000), as a child
   process whose process tree's peak RSS (trainer + reader, sampled every 50 ms, shared pages counted in each
   process) is the figure. Target: 10 M ≤ 1.5 × 1 M.
   For contrast, the in-memory path: the same lines encoded once into a ``.npz`` token cache (what ``prepare_data``
   writes, here without RDKit's canonicalization, which would take an hour for 10 M on this CPU) and trained from
   it the same way (``--data FILE.npz``: the whole cache is loaded, a validation split copied out of it).
2. DDP: the same run (1 M set, batch 128 per process) with ``--devices 1`` and ``--devices 2`` (gloo, one torch
   thread per process), for the tiny model (LSTM 32) and a wider one (2 × LSTM 256, a third of the steps); global
   and per-process training tokens/s from ``log.csv`` (the last 50 steps), and wall time.
3. Cap (``--parts cap``): a streamed run on 40 M lines (about 1.4 GB of text, more than the cap) under a 1 GiB RSS
   cap enforced by a watchdog that kills the process tree when it is exceeded.
"""
from __future__ import annotations

import csv
import gzip
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, measure, save  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "runs" / "bench_scale"


def moses_lines() -> list[bytes]:
    """The SMILES column of MOSES' training set, as lines."""
    with gzip.open(_moses_file(), "rb") as fh:
        next(fh)  # header
        return [line.split(b",", 1)[0] + b"\n" for line in fh]


def _moses_file() -> Path:
    d = Path(os.environ.get("CHEMRNN_DATA_DIR", ROOT.parent / "shared" / "data"))
    return d / "moses_train.csv.gz"


def make_shards(n: int, shards: int = 10) -> Path:
    """``n`` lines of MOSES SMILES (repeated) in ``shards`` gzipped files; reused when already written."""
    folder = WORK / f"{n // 1_000_000}M"
    done = folder / ".done"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    lines = moses_lines()
    per = n // shards
    for i in range(shards):
        start = (i * per) % len(lines)
        chunk = [lines[(start + j) % len(lines)] for j in range(per)]
        tmp = folder / f"part{i:03d}.smi.gz.tmp"
        with gzip.open(tmp, "wb", compresslevel=1) as fh:
            fh.write(b"".join(chunk))
        tmp.rename(folder / f"part{i:03d}.smi.gz")
    done.write_text(str(n))
    return folder


WIDE = ["--hidden", "256", "--layers", "2", "--embedding", "64"]


def train_cmd(data: Path, run: Path, steps: int, devices: int = 1, extra: list[str] = (), workers: int = 1
              ) -> list[str]:
    """A streamed run of the shards in ``data`` (``workers`` reader processes; 0: read in the trainer)."""
    return [*_cmd(str(data / "*.smi.gz"), run, steps, devices), "--workers", str(workers), *extra]


def _cmd(data: str, run: Path, steps: int, devices: int) -> list[str]:
    return [sys.executable, "-m", "chemrnn", "-q", "lm", "train", "--data", data, "--preset", "tiny",
            "--batch-size", "128", "--max-steps", str(steps), "--val-size", "1000", "--val-every", str(steps),
            "--checkpoint-every", str(steps), "--device", "cpu", "--precision", "32", "--devices", str(devices),
            "-o", str(run), "--restart"]


def tokens_per_s(run: Path) -> float | None:
    with open(run / "log.csv", newline="") as fh:
        values = [float(r["tokens_per_s"]) for r in csv.DictReader(fh) if r["tokens_per_s"]]
    return values[-1] if values else None


def token_cache(n: int) -> Path:
    """The ``n`` lines of :func:`make_shards` encoded into one token cache (written once, reused)."""
    from chemrnn.batching import encode_all
    from chemrnn.streaming import expand_shards, read_shard
    from chemrnn.tokens import get_tokenizer

    path = WORK / f"{n // 1_000_000}M.npz"
    if not path.exists():
        files = expand_shards(str(make_shards(n) / "*.smi.gz"))
        encode_all((s for f in files for _, s in read_shard(f)), get_tokenizer("atom")).save(path)
    return path


def in_memory_cmd(cache: Path, run: Path, steps: int) -> list[str]:
    """The same run from a token cache held in memory."""
    return _cmd(str(cache), run, steps, 1)


CAP_LINES, CAP_MB = 40_000_000, 1024


def memory_cap_run(env: dict, steps: int) -> dict:
    """A streamed run (read in the trainer) on 40 M lines — more text than the cap — under a 1 GiB RSS cap, enforced
    by killing the process tree the moment it is exceeded."""
    data = make_shards(CAP_LINES)
    text_mb = 0
    for f in data.glob("*.smi.gz"):
        with gzip.open(f, "rb") as fh:
            while chunk := fh.read(1 << 24):
                text_mb += len(chunk)
    text_mb = round(text_mb / 2**20)
    m = measure(train_cmd(data, WORK / "run_cap", steps, workers=0), env, cap_mb=CAP_MB)
    m.update({"lines": CAP_LINES, "text_mb": text_mb,
              "gz_mb": round(sum(f.stat().st_size for f in data.glob("*.smi.gz")) / 2**20)})
    print(f"cap: {CAP_LINES:,} lines, {text_mb:,} MB of text ({m['gz_mb']} MB gz) under a {CAP_MB} MB cap: peak RSS "
          f"{m['peak_rss_mb']} MB, over cap {m['over_cap']}, rc {m['returncode']}, {m['seconds']} s", flush=True)
    return m


def main(out: str = "runs/bench_scale/result.json", steps: int = 300,
         parts: tuple = ("stream", "inmemory", "ddp")) -> dict:
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = json.loads(Path(out).read_text()) if Path(out).exists() else {}
    res.update({"machine": machine(), "steps": steps})
    res.setdefault("memory", {}), res.setdefault("ddp", {}), res.setdefault("in_memory", {})
    res["load_average_at_start"] = os.getloadavg()
    if "inmemory" in parts:
        for n in (1_000_000, 10_000_000):
            t = time.perf_counter()
            cache = token_cache(n)
            m = measure(in_memory_cmd(cache, WORK / f"mem_{n // 1_000_000}M", steps), env)
            m.update({"cache_seconds": round(time.perf_counter() - t, 1),
                      "cache_mb": round(cache.stat().st_size / 1e6, 1)})
            res["in_memory"][f"{n // 1_000_000}M"] = m
            print(f"in memory, {n:,} molecules ({m['cache_mb']} MB cache): peak RSS {m['peak_rss_mb']} MB, "
                  f"{m['seconds']} s, rc {m['returncode']}", flush=True)
        a, b = (res["in_memory"][k]["peak_rss_mb"] for k in ("1M", "10M"))
        res["in_memory"]["ratio_10M_over_1M"] = round(b / a, 3)
    for n in (1_000_000, 10_000_000) if "stream" in parts else ():
        t = time.perf_counter()
        data = make_shards(n)
        made = round(time.perf_counter() - t, 1)
        m = measure(train_cmd(data, WORK / f"run_{n // 1_000_000}M", steps), env)
        m["shards_seconds"] = made
        m["data_mb"] = round(sum(f.stat().st_size for f in data.glob("*.smi.gz")) / 1e6, 1)
        m0 = measure(train_cmd(data, WORK / f"run0_{n // 1_000_000}M", steps, workers=0), env)
        m["workers_0"] = {k: m0[k] for k in ("seconds", "peak_rss_mb", "returncode")}
        res["memory"][f"{n // 1_000_000}M"] = m
        print(f"{n:,} lines ({m['data_mb']} MB gz): peak RSS {m['peak_rss_mb']} MB with a reader process, "
              f"{m0['peak_rss_mb']} MB reading in the trainer; {m['seconds']} s, rc {m['returncode']}", flush=True)
    if "stream" in parts:
        a, b = (res["memory"][k]["peak_rss_mb"] for k in ("1M", "10M"))
        res["memory"]["ratio_10M_over_1M"] = round(b / a, 3)
        a, b = (res["memory"][k]["workers_0"]["peak_rss_mb"] for k in ("1M", "10M"))
        res["memory"]["ratio_10M_over_1M_workers_0"] = round(b / a, 3)
    if "cap" in parts:
        res["cap"] = memory_cap_run(env, steps)
    data = WORK / "1M"
    for name, extra, n_steps in (("tiny", [], steps), ("wide", WIDE, max(100, steps // 3))) if "ddp" in parts else ():
        for devices in (1, 2):
            run = WORK / f"ddp_{name}_{devices}"
            m = measure(train_cmd(data, run, n_steps, devices, extra), env)
            tps = tokens_per_s(run)
            m.update({"steps": n_steps, "tokens_per_s_global": tps,
                      "tokens_per_s_per_process": tps / devices if tps else None})
            res["ddp"][f"{name}_{devices}"] = m
            print(f"{name}, {devices} process(es): {tps and round(tps):,} tokens/s in all, "
                  f"{tps and round(tps / devices):,} per process; {m['seconds']} s wall, rc {m['returncode']}",
                  flush=True)
    res["load_average_at_end"] = os.getloadavg()
    save(res, out)
    return res


if __name__ == "__main__":
    argv = sys.argv[1:]
    opts = {k: argv[argv.index(k) + 1] for k in ("--steps", "--parts") if k in argv}
    args = [a for i, a in enumerate(argv) if not a.startswith("--") and (i == 0 or argv[i - 1] not in opts)]
    parts = tuple(opts.get("--parts", "stream,inmemory,ddp").split(","))
    res = main(*(args[:1] or []), steps=int(opts.get("--steps", 300)), parts=parts)
    print(json.dumps(res, indent=1, default=str)[:4000])
