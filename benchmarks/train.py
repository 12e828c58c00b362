"""Training speed and quality of the default spiral recipe, on the device picked (cuda, mps, cpu).

The Train tab's and `train`'s default run on the spiral (training.config.RECIPES: MLP width 64, depth 3,
v-prediction, batch 1024, lr 6e-3 with warm-up and cosine decay, 3,500 steps): its seconds of training
(evaluation excluded) and the EMA model's mean distance to the spiral with DDPM-1000 on 4,000 samples
(the issue's target: <= 0.005 within 20 s on 2 CPU cores), beside the recipe it replaced (width 128,
eps, lr 2e-3, 3,000 steps) and the other settings tried while choosing it; then DDPM-1000 sampling
throughput for 10,000 points.
Run: python -m benchmarks.train [--device cuda] [--quick]   (--quick: the default recipe only)
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import report
from explorer.evaluation.metrics import mean_spiral_distance
from explorer.training.config import TrainConfig
from explorer.training.trainer import Trainer, ema_samples

EVAL_N, SAMPLE_N = 4000, 10_000

# (label, settings) of each run; the first is the default recipe
RUNS = [
    ("default: width 64, v, lr 6e-3, 3,500 steps", {}),
    ("before: width 128, eps, lr 2e-3, 3,000 steps", dict(width=128, prediction="eps", lr=2e-3, steps=3000)),
    ("width 64, eps, lr 4e-3, 3,000 steps", dict(prediction="eps", lr=4e-3, steps=3000)),
    ("width 64, v, lr 4e-3, 3,000 steps", dict(lr=4e-3, steps=3000)),
    ("width 64, v, lr 6e-3, 3,000 steps", dict(steps=3000)),
    ("width 64, depth 2, eps, lr 4e-3, 3,000 steps", dict(depth=2, prediction="eps", lr=4e-3, steps=3000)),
    ("width 64, eps, batch 512, lr 4e-3, 3,000 steps", dict(batch=512, prediction="eps", lr=4e-3, steps=3000)),
]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train(settings: dict, device: str | None, out: str) -> tuple[Trainer, float]:
    """Train one run to its last step; returns the trainer and the seconds spent in training steps."""
    trainer = Trainer(TrainConfig(dataset="spiral", **settings), out, device=device)
    sync(trainer.device)
    start = time.perf_counter()
    while trainer.step < trainer.config.steps:
        trainer.train_step()
    sync(trainer.device)
    return trainer, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device")
    parser.add_argument("--out", default="/tmp/bench-train")
    parser.add_argument("--quick", action="store_true", help="the default recipe only")
    args = parser.parse_args()
    rows, trainer = [], None
    for label, settings in RUNS[:1] if args.quick else RUNS:
        run, seconds = train(settings, args.device, args.out)
        trainer = trainer or run
        distance = mean_spiral_distance(ema_samples(run, EVAL_N, 1))
        c = run.config
        rows.append({"device": str(run.device), "run": label, "training s": round(seconds, 1),
                     "steps/s": round(c.steps / seconds, 1), "spiral distance": round(distance, 5),
                     "parameters": sum(p.numel() for p in run.model.parameters())})  # fmt: skip
        print(rows[-1], flush=True)
    sync(trainer.device)
    start = time.perf_counter()
    ema_samples(trainer, SAMPLE_N, 2)
    sync(trainer.device)
    sample_s = time.perf_counter() - start
    rows.append({"device": str(trainer.device), "run": f"default: DDPM-1000 on {SAMPLE_N:,} points",
                 "training s": "-", "steps/s": "-", "spiral distance": f"{SAMPLE_N / sample_s:.0f} points/s",
                 "parameters": "-"})  # fmt: skip
    report(f"train-{trainer.device.type}", rows, list(rows[0]))


if __name__ == "__main__":
    main()
