"""The quality metric of a model's samples, chosen by its dataset."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from explorer import data
from explorer.evaluation.metrics import mean_spiral_distance, sliced_wasserstein


@dataclass(frozen=True)
class Metric:
    """How a model's samples are scored."""

    name: str
    higher_is_better: bool


SPIRAL_METRIC = Metric("mean distance to the spiral", False)


SLICED_METRIC = Metric("sliced W1 to held-out data", False)


DIGITS_METRIC = Metric("classifier confidence", True)


def metric_for(dataset: str) -> Metric:
    if dataset == "spiral":
        return SPIRAL_METRIC
    if dataset == "digits":
        return DIGITS_METRIC
    return SLICED_METRIC


def sample_quality(dataset: str, noise: float, samples: torch.Tensor) -> float:
    """The quality metric of samples of `dataset` (points jittered by `noise` when trained)."""
    if dataset == "spiral":
        return mean_spiral_distance(samples)
    if dataset == "digits":
        from explorer.evaluation.digits import evaluate_digits

        return evaluate_digits(samples).confidence
    held_out = data.make_points(dataset, 5000, noise, torch.Generator().manual_seed(12345)).x
    return sliced_wasserstein(samples.float(), held_out, torch.Generator().manual_seed(0))
