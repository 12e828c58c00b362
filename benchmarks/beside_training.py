"""A sampling request beside a background training job, with and without the job giving way.

The request is the Reverse tab's default run (the shipped spiral model, 1,000 points, DDPM-1000) at
the server's torch threads on the app's device; the job is the Train tab's default spiral run on the app's
training device (both the GPU where there is one). Three
cases: the request alone, beside the job as it was (the job takes its share), and beside the job
giving way (explorer.activity: it waits while a request computes, at most MAX_PAUSE_S at a time).
Each case is the median of `--repeats` requests; the job's steps/s are counted over those requests.
Run: python -m benchmarks.beside_training [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from benchmarks.common import report
from explorer.activity import MAX_PAUSE_S, Activity
from explorer.runs.reverse import ReverseSettings, run_reverse
from explorer.serve.limits import limits, training_device
from explorer.store.registry import REGISTRY
from explorer.training.config import MAX_TRAIN_STEPS, TrainConfig
from explorer.training.job import TrainingJob
from explorer.training.trainer import Trainer

MODEL = "spiral-mlp"


def requests(n: int, marks: Activity | None) -> list[float]:
    """Seconds of n default Reverse runs, each marked active in `marks` as the run store marks it."""
    seconds = []
    for _ in range(n):
        start = time.perf_counter()
        if marks is None:
            run_reverse(ReverseSettings(MODEL))
        else:
            with marks.request():
                run_reverse(ReverseSettings(MODEL))
        seconds.append(time.perf_counter() - start)
    return seconds


def running_job(out: str, yield_to: Activity | None) -> TrainingJob:
    """The Train tab's default spiral job on the app's training device, past its first preview and warm-up."""
    job = TrainingJob(Trainer(TrainConfig(dataset="spiral", steps=MAX_TRAIN_STEPS), out, device=training_device()))
    job.yield_to = yield_to
    job.start()
    while job.snapshot().step < 200:
        time.sleep(0.05)
    return job


def beside_job(n: int, gives_way: bool, out: str) -> dict:
    """n requests while a default spiral training job runs; the job's progress over them."""
    marks = Activity()
    job = running_job(out, marks if gives_way else None)
    before, start = job.snapshot(), time.perf_counter()
    seconds = requests(n, marks)
    after, elapsed = job.snapshot(), time.perf_counter() - start
    job.cancel()
    job.join(60)
    return {"request s": statistics.median(seconds), "training steps/s": (after.step - before.step) / elapsed,
            "training paused s": after.yielded_s - before.yielded_s}  # fmt: skip


def training_alone(out: str, seconds: float = 5.0) -> float:
    job = running_job(out, None)
    before, start = job.snapshot().step, time.perf_counter()
    time.sleep(seconds)
    rate = (job.snapshot().step - before) / (time.perf_counter() - start)
    job.cancel()
    job.join(60)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(limits().torch_threads)  # as the server runs (explorer/serve/limits.py)
    run_reverse(ReverseSettings(MODEL, n=10))  # load and warm up
    with tempfile.TemporaryDirectory() as out:
        alone = statistics.median(requests(args.repeats, None))
        cases = [("request alone", {"request s": alone, "training steps/s": 0.0, "training paused s": 0.0}),
                 ("training alone", {"request s": float("nan"), "training steps/s": training_alone(out),
                                     "training paused s": 0.0}),
                 ("beside training, as before (no giving way)", beside_job(args.repeats, False, out)),
                 (f"beside training giving way (pause <= {MAX_PAUSE_S:g} s)",
                  beside_job(args.repeats, True, out))]  # fmt: skip
    device = str(REGISTRY.handle(MODEL).device)
    rows = [{"device": device, "case": case, **{k: round(v, 2) for k, v in values.items()},
             "request / alone": round(values["request s"] / alone, 2)} for case, values in cases]  # fmt: skip
    for row in rows:
        print(row, flush=True)
    report(f"beside-training-{device.split(':')[0]}", rows, list(rows[0]))


if __name__ == "__main__":
    main()
