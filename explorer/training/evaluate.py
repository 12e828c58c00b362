"""The quality of a trained model, measured when its run ends."""

from __future__ import annotations

import torch

from explorer import data
from explorer.training.trainer import Trainer, ema_samples


def evaluate_model(trainer: Trainer, n: int) -> dict[str, float]:
    """Quality of the EMA model's DDPM-T (flow: Euler-T) samples, measured when a run ends. Points: the
    sliced Wasserstein distance to held-out data (and between two held-out sets, the floor
    set by the sample size), and for the spiral the mean distance to the curve. Digits:
    the classifier's mean confidence and the memorisation check."""
    from explorer.evaluation.metrics import energy_distance, mean_spiral_distance, sliced_wasserstein

    if n <= 0:
        return {}
    c = trainer.config
    tag = trainer.objective.tag  # the reference sampler
    samples = ema_samples(trainer, n, c.seed + 2)
    if c.dataset == "digits":
        from explorer.evaluation.digits import evaluate_digits

        report = evaluate_digits(samples)
        return {f"classifier_confidence_{tag}": report.confidence, f"memorised_share_{tag}": report.memorised,
                f"nearest_training_distance_{tag}": report.nearest_distance}  # fmt: skip
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
