"""The sampling endpoint under load: requests per second and p50/p95 latency with 1, 4 and 16
concurrent clients, against `python app.py` running as its own process (read-only, as on a
public Space), at sampling concurrency 1 and 2 (the default on 2 cores), each request with one
torch thread (the app's default), and, for comparison, concurrency 1 with two torch threads.

Each request is the Reverse tab's Sample: spiral-mlp, 100 points, DDPM-1000, a seed no other
request uses (so nothing comes from the cache).
Run: python -m benchmarks.load   (writes results/load.json)
"""

from __future__ import annotations

import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import report

ROOT = Path(__file__).resolve().parents[1]

LEVELS = [(1, 8), (4, 4), (16, 2)]  # (clients, requests each)
SERVERS = [(1, 1), (2, 1), (1, 2)]  # (sampling concurrency, torch threads)
SEEDS = itertools.count(1000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(concurrency: int, threads: int, models: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "EXPLORER_MODELS_DIR": models}
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--read-only",
                                "--sampling-concurrency", str(concurrency), "--torch-threads", str(threads)],
                               cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the app did not start")


def sample(client, seed: int) -> float:
    start = time.perf_counter()
    info = client.predict("spiral-mlp", 100, seed, "beta_tilde", False, "any", 1.0, False, "",
                          api_name="/reverse_sample")[-2]  # fmt: skip
    if "t = 0 of 1000" not in info:
        raise RuntimeError(f"unexpected answer: {info}")
    return time.perf_counter() - start


def run_level(url: str, clients: int, each: int) -> dict:
    from gradio_client import Client

    latencies, errors = [], []
    seeds = [[next(SEEDS) for _ in range(each)] for _ in range(clients)]
    connected = [Client(url, download_files=False, verbose=False) for _ in range(clients)]

    def work(i: int) -> None:
        for seed in seeds[i]:
            try:
                latencies.append(sample(connected[i], seed))
            except Exception as error:  # noqa: BLE001 - counted in the table
                errors.append(repr(error))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else latencies * 19
    return {"clients": clients, "requests": len(latencies), "errors": len(errors),
            "requests/s": round(len(latencies) / wall, 2), "p50 s": round(statistics.median(latencies), 2),
            "p95 s": round(q[18], 2)}  # fmt: skip


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as models:
        for concurrency, threads in SERVERS:
            process, url = start_server(concurrency, threads, models)
            try:
                from gradio_client import Client

                sample(Client(url, download_files=False, verbose=False), 0)  # load the model once
                for clients, each in LEVELS:
                    row = {
                        "sampling concurrency": concurrency,
                        "torch threads": threads,
                        **run_level(url, clients, each),
                    }
                    rows.append(row)
                    print(row, flush=True)
            finally:
                process.kill()
                process.wait()
    report("load", rows, list(rows[0]))


if __name__ == "__main__":
    main()
