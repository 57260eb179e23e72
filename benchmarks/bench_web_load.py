"""The web page under load, against ``chemrnn serve`` on 127.0.0.1 (every request to this machine's loopback, their
number fixed, each phase bounded in time):

* alone: a 1-molecule prediction (40 in turn, after 5 to warm up) and a 100-molecule one (10 in turn);
* throughput: 8 clients at once, each sending 10 predictions of 25 molecules in turn (requests/s);
* under load: two of the largest predictions allowed (1,000 SMILES of about 500 characters each) and a full
  sampling queue (2,000 molecules a job, submitted until the server refuses one), then a 1-molecule prediction
  every 0.25 s (20 of them, or as many as 90 s allow, while both large ones still run): their latency, whether
  their values are the ones the server gave alone, how long the two large ones took.

Usage: python benchmarks/bench_web_load.py [OUT.json] [--src DIR]
(default runs/bench_web_load/result.json; ``--src`` serves the chemrnn package under DIR instead of this one, to
measure another version of the server the same way)
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench_web import _cpu_model
from common import machine, save

ROOT = Path(__file__).resolve().parents[1]
ONE = "CC(=O)Nc1ccc(O)cc1"  # paracetamol
UNITS = ("CC(C)", "OCC", "C(=O)N", "CC(F)", "C(O)C", "CCN(C)", "C(=O)O")


def long_smiles(i: int, chars: int = 500) -> str:
    """A valid SMILES of at most ``chars`` characters that the shipped model reads: a benzene ring and a long
    branched chain (no more rings: their canonical form would need ring-closure numbers the model never saw);
    ``i`` varies the chain."""
    s, k = "c1ccccc1", i
    while True:
        k = (k * 1103515245 + 12345) % 2**31
        unit = UNITS[(k >> 16) % len(UNITS)]
        if len(s) + len(unit) + 1 > chars:
            return s + "C"
        s += unit


def post(url: str, body: dict, timeout: float = 300) -> tuple:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), exc.headers


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def stats(xs: list[float]) -> dict:
    import numpy as np

    if not xs:
        return {"n": 0}
    a = np.array(xs) * 1000
    return {"n": len(xs), "median_ms": round(float(np.median(a)), 1), "p95_ms": round(float(np.percentile(a, 95)), 1),
            "max_ms": round(float(a.max()), 1)}


def timed(base: str, smiles: str, timeout: float = 300) -> tuple[float, dict]:
    t = time.perf_counter()
    status, res, _ = post(base + "api/predict", {"smiles": smiles}, timeout)
    assert status == 200, res
    return time.perf_counter() - t, res


def main():
    args = sys.argv[1:]
    src = ROOT / "src"
    if "--src" in args:
        k = args.index("--src")
        src = Path(args[k + 1]).resolve()
        del args[k: k + 2]
    out = Path(args[0] if args else "runs/bench_web_load/result.json")
    from chemrnn.datasets import shipped_path
    from chemrnn.io import load_smiles_list

    moses = load_smiles_list(shipped_path("moses:test_sample"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/"
    runs = tempfile.mkdtemp(prefix="bench_web_load_")
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.Popen([sys.executable, "-m", "chemrnn", "serve", "--port", str(port), "--runs", runs],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    result = {"machine": machine(), "cpu_model": _cpu_model(), "load_average_at_start": os.getloadavg(),
              "server_src": str(src), "command": " ".join(["python", "benchmarks/bench_web_load.py", *sys.argv[1:]])}
    try:
        t0 = time.perf_counter()
        while True:
            try:
                info = get(base + "api/info")
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        for _ in range(5):
            timed(base, ONE)
        alone_one = [timed(base, ONE) for _ in range(40)]
        reference = alone_one[0][1]["rows"][0]["model"]
        hundred = "\n".join(moses[:100])
        alone_100 = [timed(base, hundred)[0] for _ in range(10)]
        result["alone"] = {"one_molecule": stats([t for t, _ in alone_one]),
                           "hundred_molecules": stats(alone_100)}

        # throughput: 8 clients at once, 10 requests of 25 distinct molecules each
        lat: list[float] = []

        def client(c):
            for r in range(10):
                k = (c * 10 + r) * 25 % (len(moses) - 25)
                lat.append(timed(base, "\n".join(moses[k:k + 25]))[0])

        t = time.perf_counter()
        threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        result["eight_clients_25_molecules"] = {"requests": len(lat), "wall_s": round(wall, 2),
                                                "requests_per_s": round(len(lat) / wall, 1), "latency": stats(lat)}

        # under load
        big = ["\n".join(long_smiles(b * 1000 + i) for i in range(info["limits"]["smiles"])) for b in range(2)]
        big_s: list[float] = []

        def large(text):
            big_s.append(timed(base, text, timeout=600)[0])

        large_threads = [threading.Thread(target=large, args=(text,), daemon=True) for text in big]
        for th in large_threads:
            th.start()
        accepted, refused = [], None
        t = time.perf_counter()
        while len(accepted) < 50 and time.perf_counter() - t < 30:
            status, res, headers = post(base + "api/generate", {"model": "shipped", "n": 2000, "seed": len(accepted)})
            if status != 200:
                refused = {"status": status, "error": res.get("error"), "retry_after": headers.get("Retry-After"),
                           "after_accepting": len(accepted)}
                break
            accepted.append(res["id"])
        time.sleep(1.0)  # the large predictions are being computed, the first job samples
        jobs = [get(base + f"api/jobs/{j}") for j in accepted]
        loaded, same = [], True
        t = time.perf_counter()
        while len(loaded) < 20 and time.perf_counter() - t < 90 and not big_s:
            s, res = timed(base, ONE, timeout=120)  # sent while both large predictions run
            loaded.append(s)
            same &= res["rows"][0]["model"] == reference
            time.sleep(0.25)
        for th in large_threads:
            th.join(timeout=max(1.0, 300 - (time.perf_counter() - t)))
        result["under_load"] = {
            "one_molecule": stats(loaded), "same_values_as_alone": same,
            "large_predictions": {"requests": 2, "molecules_each": info["limits"]["smiles"],
                                  "smiles_chars": len(long_smiles(0)), "seconds": [round(x, 1) for x in big_s]},
            "sampling_jobs_accepted": len(accepted), "refused": refused,
            "queue_positions_reported": [j.get("queue_position") for j in jobs],
            "messages": [j["message"] for j in jobs[:4]],
        }
        for j in accepted:
            post(base + f"api/jobs/{j}/cancel", {}, timeout=30)
    finally:
        proc.kill()  # not SIGTERM: the server would finish any large prediction still running first
        proc.wait(30)
    save(result, out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
