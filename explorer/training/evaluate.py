"""The quality of a trained model, measured when its run ends."""

from __future__ import annotations

import torch

from explorer import data
from explorer.training.trainer import Trainer, ema_samples


def evaluate_model(trainer: Trainer, n: int) -> dict[str, float]:
    """Quality of the EMA model's DDPM-T (flow: Euler-T) samples, measured when a run ends. Points: the
    sliced Wasserstein distance to held-out data (and between two held-out sets, the floor
    set by the sample size), and for the spiral the mean distance to the curve. Digits: see digits_metrics."""
    from explorer.evaluation.metrics import energy_distance, mean_spiral_distance, sliced_wasserstein

    if n <= 0:
        return {}
    c = trainer.config
    tag = trainer.objective.tag  # the reference sampler
    if c.dataset == "digits":
        return digits_metrics(trainer, n)
    samples = ema_samples(trainer, n, c.seed + 2)
    held_out = torch.Generator().manual_seed(c.seed + 3)
    reference = data.make_points(c.dataset, n, c.noise, held_out).x
    floor = data.make_points(c.dataset, n, c.noise, held_out).x
    metrics = {
        f"sliced_wasserstein_{tag}": sliced_wasserstein(samples, reference, torch.Generator().manual_seed(0)),
        "sliced_wasserstein_floor": sliced_wasserstein(floor, reference, torch.Generator().manual_seed(0)),
        f"energy_distance_{tag}": energy_distance(samples, reference),
        "energy_distance_floor": energy_distance(floor, reference),
    }
    if c.dataset == "spiral":
        metrics[f"spiral_distance_{tag}"] = mean_spiral_distance(samples)
    return metrics


def digits_metrics(trainer: Trainer, n: int) -> dict[str, float]:
    """Digits: FD to the evaluator's training split at n = FD_N with its floor, precision and recall,
    the memorised share, and with holdout the FD to the held-out digits (evaluation.sample_report);
    FD_N samples are drawn whenever n reaches it (more do not change a fixed-n FD). With fewer, only
    the memorised share: FD cannot rank below FD_N."""
    from explorer.evaluation.digits import evaluate_digits
    from explorer.evaluation.sample_report import FD_N, digits_quality, fd_to_held_out

    tag, c = trainer.objective.tag, trainer.config
    samples = ema_samples(trainer, min(n, FD_N), c.seed + 2)
    if n < FD_N:
        return {f"memorised_share_{tag}": evaluate_digits(samples).memorised}
    q = digits_quality(samples)
    metrics = {f"fd_{tag}": q.fd.value, "fd_floor": q.fd_floor.value, f"precision_{tag}": q.precision,
               f"recall_{tag}": q.recall, f"memorised_share_{tag}": q.memorised_share}  # fmt: skip
    if c.holdout:
        metrics[f"fd_held_out_{tag}"] = fd_to_held_out(samples)
    return metrics
