"""Sampling speed and quality of the shipped models with DDPM-1000 on this machine.

spiral-mlp: 10,000 points, points per second and mean distance to the spiral.
digits-unet: 4 batches of 64 digits (the app's cap), images per second, the classifier's mean confidence, the share
of samples that are near-copies of a training digit, and the class histogram.
Run: python benchmarks/sample.py [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import report  # noqa: E402
from explorer.checkpoints import SHIPPED_DIR, load_checkpoint  # noqa: E402
from explorer.classifier import classifier, evaluate_digits  # noqa: E402
from explorer.device import pick_device  # noqa: E402
from explorer.metrics import mean_spiral_distance  # noqa: E402
from explorer.reverse import trajectory  # noqa: E402
from explorer.samplers import SamplerSettings  # noqa: E402
from explorer.schedules import make_schedule  # noqa: E402

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
        s = loaded.config["schedule"]
        schedule = make_schedule(s["name"], s["T"], s["zero_terminal_snr"])
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
