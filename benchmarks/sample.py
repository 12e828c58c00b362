"""Sampling speed and quality of the shipped models with DDPM-1000 on this machine.

spiral-mlp: 10,000 points, points per second and mean distance to the spiral.
digits-unet: 4 batches of 64 digits (the app's cap), images per second, the classifier's mean confidence, the share
of samples that are near-copies of a training digit, and the class histogram.
Run: python -m benchmarks.sample [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import report
from explorer.config import (
    SHIPPED_DIR,
    pick_device,
)
from explorer.core.schedules import make_schedule
from explorer.evaluation.digits import classifier, evaluate_digits
from explorer.evaluation.metrics import mean_spiral_distance
from explorer.runs.common import trajectory
from explorer.sampling.registry import SamplerSettings
from explorer.store.checkpoint import load_checkpoint

CASES = {"spiral-mlp": (10_000, 1), "digits-unet": (64, 4)}  # batch size (the app's cap), batches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device")
    args = parser.parse_args()
    device = pick_device(args.device)
    classifier()  # train or load the evaluator before timing anything
    rows = []
    for name, (n, batches) in CASES.items():
        loaded = load_checkpoint(SHIPPED_DIR / name, device)
        s = loaded.info.schedule
        schedule = make_schedule(s.name, s.T, s.zero_terminal_snr)
        start, finals = time.perf_counter(), []
        for seed in range(batches):
            _, xs, _, nfe = trajectory(loaded, schedule, n, seed, SamplerSettings(), {0}, device=device)
            finals.append(xs[-1])
        seconds = time.perf_counter() - start
        samples = torch.cat(finals)
        row = {"model": name, "device": str(device), "samples": len(samples), "NFE each": nfe,
               "seconds": round(seconds, 1), "samples/s": round(len(samples) / seconds, 1)}  # fmt: skip
        if name.startswith("spiral"):
            row["quality"] = f"spiral distance {mean_spiral_distance(samples):.4f}"
        else:
            r = evaluate_digits(samples)
            row["quality"] = (f"confidence {r.confidence:.3f}, near-copies {r.memorised:.1%}, "
                              f"classes {r.histogram}")  # fmt: skip
        rows.append(row)
    report(f"sample-{device.type}", rows, list(rows[0]))


if __name__ == "__main__":
    main()
