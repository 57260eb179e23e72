"""Load check of the web page: 20 concurrent prediction requests of 100 SMILES each, while a sampling
job (2,000 molecules) runs, against ``chemrnn serve`` on 127.0.0.1; the same 20 requests on an idle server for
comparison; the server's start-up time. Every request goes to this machine's loopback only, and their number is
fixed.

Usage: python benchmarks/bench_web.py [OUT.json]   (default runs/bench_web/result.json)
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from common import machine, save

N_REQUESTS, PER_REQUEST, N_SAMPLES = 20, 100, 2000


def post(url: str, body: dict, timeout: float = 300) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def percentiles(xs: list[float]) -> dict:
    import numpy as np

    a = np.array(xs)
    return {"n": len(xs), "p50": round(float(np.percentile(a, 50)), 3), "p90": round(float(np.percentile(a, 90)), 3),
            "p95": round(float(np.percentile(a, 95)), 3), "max": round(float(a.max()), 3),
            "mean": round(float(a.mean()), 3)}


def expected_values(batches: list[list[str]]) -> list[list[dict]]:
    """What each request must answer: the shipped model's values for its SMILES, as ``property predict`` computes
    them in this process (same model, same precision setting)."""
    import math

    from chemrnn.predict import PropertyPredictor

    predictor = PropertyPredictor("shipped")
    out = []
    for b in batches:
        res = predictor.predict(b)
        out.append([{t: (v if math.isfinite(v) else None) for t, v in zip(predictor.targets, row)}
                    for row in res.values])
    return out


def same(answer: dict, want: dict) -> bool:
    """A web answer (``%.6g`` text) equals the expected value to its printed precision."""
    for t, v in want.items():
        got = answer.get(t, "")
        if v is None:
            if got != "":
                return False
        elif got == "" or abs(float(got) - v) > 1e-5 * max(1.0, abs(v)):
            return False
    return True


def burst(base: str, batches: list[list[str]], expected: list[list[dict]]) -> dict:
    """All requests at once, one thread each; latency of each, the wall time of the whole burst, and every answer
    checked against the expected values (``wrong`` counts the molecules whose values differ)."""
    lat: list[float] = [0.0] * len(batches)
    errors: list[str] = []
    wrong = [0]

    def one(k):
        t = time.perf_counter()
        try:
            res = post(base + "api/predict", {"smiles": "\n".join(batches[k])})
            assert res["counts"]["rows"] == len(batches[k])
            wrong[0] += sum(not same(r["model"], w) for r, w in zip(res["rows"], expected[k]))
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        lat[k] = time.perf_counter() - t

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(batches))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    n = sum(len(b) for b in batches)
    return {"latency_s": percentiles(lat), "wall_s": round(wall, 2), "molecules": n,
            "molecules_per_s": round(n / wall, 1), "errors": errors, "wrong_values": wrong[0]}


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/bench_web/result.json")
    from chemrnn.datasets import shipped_path
    from chemrnn.io import load_smiles_list

    smiles = load_smiles_list(shipped_path("moses:test_sample"))
    batches = [smiles[k * PER_REQUEST:(k + 1) * PER_REQUEST] for k in range(N_REQUESTS)]
    expected = expected_values(batches)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/"
    runs = tempfile.mkdtemp(prefix="bench_web_")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chemrnn", "serve", "--port", str(port), "--runs", runs],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    try:
        while True:
            try:
                get(base + "api/info")
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 60:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.05)
        startup = time.perf_counter() - t0
        t = time.perf_counter()
        post(base + "api/predict", {"smiles": "CCO"})
        first = time.perf_counter() - t  # the property model loads here unless the warm-up got there first

        idle = burst(base, batches, expected)

        job = post(base + "api/generate", {"model": "shipped", "n": N_SAMPLES, "seed": 0})
        time.sleep(1.0)  # the job is sampling
        assert get(base + f"api/jobs/{job['id']}")["state"] == "running"
        loaded = burst(base, batches, expected)
        still_running = get(base + f"api/jobs/{job['id']}")["state"] == "running"
        while (j := get(base + f"api/jobs/{job['id']}"))["state"] in ("queued", "running"):
            time.sleep(0.5)
        t = time.perf_counter()
        job2 = post(base + "api/generate", {"model": "shipped", "n": N_SAMPLES, "seed": 1})
        while (j2 := get(base + f"api/jobs/{job2['id']}"))["state"] in ("queued", "running"):
            time.sleep(0.2)
        result = {
            "machine": machine(), "cpu_model": _cpu_model(), "load_average_at_start": os.getloadavg(),
            "startup_s": round(startup, 2), "first_predict_s": round(first, 2),
            "requests": N_REQUESTS, "smiles_per_request": PER_REQUEST,
            "idle": idle, "while_sampling": loaded, "sampling_job_still_running_after_burst": still_running,
            "sampling_job": {"n": N_SAMPLES, "seconds_with_burst": j["seconds"], "state": j["state"],
                             "seconds_alone": j2["seconds"], "validity": j["result"]["metrics"]["validity"]},
        }
    finally:
        proc.terminate()
        proc.wait(20)
    save(result, out)
    print(json.dumps(result, indent=1))


def _cpu_model() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        return ""


if __name__ == "__main__":
    main()
