"""Discrete (D3PM) models of the digits against the Gaussian digits model, by reverse steps.

For each model and S reverse steps (model calls), 512 samples from a fixed seed: the Fréchet distance
of the first 297 in the digits evaluator's features (evaluation.sample_report; 297 real held-out digits
score about 5.3), k-NN recall, the entropy of the evaluator's histogram of read digits (diversity:
log2 10 = 3.32 bits when the ten classes are equally common), and the share of near-copies of
training digits. D3PM models use ancestral sampling with eq. 4, skipping with Q_{s -> t}; the
Gaussian model uses DDPM respaced to S steps (its ancestral analogue), x0 clipped to [-1, 1].
Run: python -m benchmarks.discrete   (writes results/discrete.json)
"""

from __future__ import annotations

import math
import time

import torch

from benchmarks.common import report
from explorer.config import model_roots
from explorer.evaluation.digits import evaluate_digits
from explorer.evaluation.sample_report import digits_quality
from explorer.sampling.discrete import prior_sample, reverse_steps, to_images
from explorer.sampling.gaussian import last
from explorer.sampling.registry import DEFAULT_SPACING, SamplerSettings, sample_steps
from explorer.store.registry import (
    find_checkpoints,
    load_discrete,
    load_model,
)

MODELS = ("digits-absorbing", "digits-uniform", "digits-unet")
STEPS = (10, 25, 50, 100, 250, 1000)
N, SEED = 512, 0


@torch.no_grad()
def samples(name: str, S: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(SEED)
    if name != "digits-unet":
        loaded, process = load_discrete(name)
        x_T = prior_sample(process, (N, 1, 8, 8), gen)
        final = last(reverse_steps(loaded.model, process, x_T, S, gen))
        return to_images(final.x, process.K)
    loaded, schedule = load_model(name)
    settings = SamplerSettings("ddpm", S, spacing=DEFAULT_SPACING["ddpm"], clip_x0=1.0).validated(schedule.T)
    x_T = torch.randn(N, 1, 8, 8, generator=gen)
    return last(sample_steps(settings, loaded.model, schedule, x_T, gen, loaded.info.prediction)).x


def main() -> None:
    available = find_checkpoints(model_roots())
    rows = []
    for name in MODELS:
        if name not in available:
            print(f"skipping {name}: not in the registry")
            continue
        for S in STEPS:
            start = time.perf_counter()
            drawn = samples(name, S)
            report_, quality = evaluate_digits(drawn), digits_quality(drawn)
            shares = torch.tensor(report_.histogram, dtype=torch.float64) / N
            entropy = -float((shares[shares > 0] * torch.log2(shares[shares > 0])).sum())
            rows.append({"model": name, "steps": S, "FD (n = 297)": round(quality.fd.value, 2),
                         "recall": round(quality.recall, 3), "class entropy bits": round(entropy, 3),
                         "near-copies": round(report_.memorised, 3),
                         "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
            print(rows[-1], flush=True)
    report("discrete", rows, ["model", "steps", "FD (n = 297)", "recall", "class entropy bits", "near-copies",
                              "seconds"])  # fmt: skip
    print(f"(uniform classes: {math.log2(10):.3f} bits)")


if __name__ == "__main__":
    main()
