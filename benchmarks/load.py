"""The sampling endpoint under load: requests per second and p50/p95 latency with 1, 4 and 16
concurrent clients, against `python app.py` running as its own process (read-only, as on a
public Space), at sampling concurrency 1 and 2 (the default on 2 cores), each request with one
torch thread (the app's default), and, for comparison, concurrency 1 with two torch threads.

Each request is the Reverse tab's Sample: spiral-mlp, 100 points, DDPM-1000, a seed no other
request uses (so nothing comes from the cache).

A second table (results/load-abuse.json) runs a public server (`--public --read-only`, the
defaults) with 8 clients: 6 sample and scrub as people do, and, in the abusive scenario, one
scrubs without sampling as fast as it can (a light request that must never sample) and one
floods 20 MB uploads (refused with 429 past its share). Each simulated person comes from their own
address (the X-Forwarded-For header a host's proxy adds); the abusive two run in a separate process
at the lowest CPU priority, standing in for their own machines. It reports the 6 people's latency
with and without the abusive two.
Run: python -m benchmarks.load   (writes results/load.json and results/load-abuse.json)
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


def start_server(concurrency: int, threads: int, models: str, public: bool = False) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "EXPLORER_MODELS_DIR": models,
           "GRADIO_TEMP_DIR": str(Path(models) / "gradio-cache")}  # fmt: skip
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--read-only",
                                *(["--public"] if public else []),
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


PEOPLE, REQUESTS_EACH = 6, 3  # the well-behaved clients of the abuse scenario
UPLOAD = b"\x89PNG" + bytes(20 * 2**20 - 4)  # the largest upload the server takes


def person(client, seed: int) -> float:
    """One sample, then three scrubs of the recorded run: the latency of the whole visit."""
    start = time.perf_counter()
    sample(client, seed)
    for t in (800, 400, 0):
        client.predict(False, t, api_name="/reverse_step")
    return time.perf_counter() - start


def address(i: int) -> dict:
    """The header a host's proxy adds for the i-th simulated person (the server tells people apart by it)."""
    return {"X-Forwarded-For": f"198.51.100.{i + 1}"}


def abuse(url: str, seconds: float, counts) -> None:
    """The abusive two, run in their own process at the lowest priority (standing in for their own
    machines, whose CPU is not the server's): a scrubber that never samples (every call a new session,
    so nothing is recorded) and a flood of 20 MB uploads, for `seconds`. Outcomes go into `counts`."""
    import httpx
    from gradio_client import Client

    os.nice(19)
    stop = time.monotonic() + seconds
    boundary = "explorerflood"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + UPLOAD + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip

    def count(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    def scrub() -> None:
        while time.monotonic() < stop:
            try:
                Client(url, download_files=False, verbose=False, headers=address(100)).predict(
                    False, 500, api_name="/reverse_step"
                )
            except Exception as error:  # noqa: BLE001 - refused ("press Sample first", or 429), as it should be
                count("scrubs refused (429)" if type(error).__name__ == "TooManyRequestsError" else "scrubs refused")

    def flood() -> None:
        headers = {**address(101), "Content-Type": f"multipart/form-data; boundary={boundary}"}
        while time.monotonic() < stop:
            try:
                with httpx.Client(timeout=60) as http:  # a refusal closes the connection
                    count(f"uploads {http.post(url + 'gradio_api/upload', content=body, headers=headers).status_code}")
            except httpx.HTTPError:
                count("uploads cut off")  # the server closed the connection before the body was sent

    threads = [threading.Thread(target=scrub), threading.Thread(target=flood)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def visits(url: str) -> list[float]:
    """PEOPLE clients at once, each from their own address, visiting REQUESTS_EACH times; the latency
    of every visit."""
    from gradio_client import Client

    latencies: list[float] = []
    clients = [Client(url, download_files=False, verbose=False, headers=address(i)) for i in range(PEOPLE)]

    def visit(i: int) -> None:
        for k in range(REQUESTS_EACH):
            latencies.append(person(clients[i], 5000 + 10 * i + k))

    threads = [threading.Thread(target=visit, args=(i,)) for i in range(PEOPLE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


ABUSE_S = 60.0  # how long the abusers keep on (the people's visits take about 20 s)


def abuse_scenario(models: str) -> list[dict]:
    import multiprocessing

    from gradio_client import Client

    rows = []
    spawn = multiprocessing.get_context("spawn")
    for abusive in (False, True):
        process, url = start_server(DEFAULT_CONCURRENCY, 1, models, public=True)
        manager = spawn.Manager() if abusive else None
        counts = manager.dict() if manager else {}
        try:
            sample(Client(url, download_files=False, verbose=False, headers=address(99)), 0)
            attacker = spawn.Process(target=abuse, args=(url, ABUSE_S, counts)) if abusive else None
            if attacker:
                attacker.start()
                time.sleep(5)  # under way before the people come
            latencies = visits(url)
            if attacker:
                attacker.kill()
                attacker.join()
            counts = dict(counts)
            cache = sum(p.stat().st_size for p in (Path(models) / "gradio-cache").rglob("*") if p.is_file())
        finally:
            process.kill()
            process.wait()
            if manager:
                manager.shutdown()
        q = statistics.quantiles(latencies, n=20)
        row = {"scenario": "6 people + scrubber + upload flood" if abusive else "6 people", "visits": len(latencies),
               "p50 s": round(statistics.median(latencies), 2), "p95 s": round(q[18], 2),
               "cache MB": round(cache / 2**20, 1), **counts}  # fmt: skip
        rows.append(row)
        print(row, flush=True)
    rows[1]["p95 / without"] = round(rows[1]["p95 s"] / rows[0]["p95 s"], 2)
    return rows


DEFAULT_CONCURRENCY = 1


def main() -> None:
    if "--abuse-only" not in sys.argv:
        throughput()
    with tempfile.TemporaryDirectory() as models:
        rows = abuse_scenario(models)
    columns = sorted({k for row in rows for k in row}, key=lambda k: (k != "scenario", k))
    report("load-abuse", [{c: row.get(c, "") for c in columns} for row in rows], columns)


def throughput() -> None:
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
