"""Training and sampling speed of the spiral model, on the device picked (cuda, mps, cpu).

1. Seconds of training (evaluation excluded) until the EMA model's DDPM-1000 samples have
   a mean distance to the spiral <= 0.02, evaluating every 250 steps with 2,000 samples
   (the shipped spiral settings: MLP width 128, depth 3, batch 1024, 6000-step schedule).
   Target on 2 CPU cores: under 60 s.
2. DDPM-1000 sampling throughput for 10,000 points (points per second).
Run: python -m benchmarks.train [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import report
from explorer.evaluation.metrics import mean_spiral_distance
from explorer.training.config import TrainConfig
from explorer.training.trainer import Trainer, ema_samples

TARGET, EVAL_EVERY, EVAL_N, SAMPLE_N = 0.02, 250, 2000, 10_000


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device")
    parser.add_argument("--out", default="/tmp/bench-train")
    args = parser.parse_args()
    trainer = Trainer(TrainConfig(dataset="spiral", steps=6000), args.out, device=args.device)
    device, trained_s, reached, distance = trainer.device, 0.0, None, float("nan")
    while trainer.step < trainer.config.steps:
        sync(device)
        start = time.perf_counter()
        for _ in range(EVAL_EVERY):
            trainer.train_step()
        sync(device)
        trained_s += time.perf_counter() - start
        distance = mean_spiral_distance(ema_samples(trainer, EVAL_N, 1))
        print(f"step {trainer.step}: {trained_s:.1f} s trained, spiral distance {distance:.4f}", flush=True)
        if distance <= TARGET:
            reached = trainer.step
            break
    sync(device)
    start = time.perf_counter()
    ema_samples(trainer, SAMPLE_N, 2)
    sync(device)
    sample_s = time.perf_counter() - start
    rows = [
        {"device": str(device), "measure": f"training s until spiral distance <= {TARGET}",
         "value": round(trained_s, 1) if reached else "not reached",
         "detail": f"step {reached}, distance {distance:.4f}"},
        {"device": str(device), "measure": "training steps/s (batch 1024)",
         "value": round(trainer.step / trained_s, 1), "detail": f"{trainer.step} steps"},
        {"device": str(device), "measure": f"DDPM-1000 points/s ({SAMPLE_N:,} points)",
         "value": round(SAMPLE_N / sample_s), "detail": f"{sample_s:.2f} s"},
    ]  # fmt: skip
    report(f"train-{device.type}", rows, ["device", "measure", "value", "detail"])


if __name__ == "__main__":
    main()
