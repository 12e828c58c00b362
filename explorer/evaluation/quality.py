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
    log_axis: bool = False  # curves of it read best on a log axis (FD spans decades between 1 and 1000 steps)


SPIRAL_METRIC = Metric("mean distance to the spiral", False)


SLICED_METRIC = Metric("sliced W1 to held-out data", False)


DIGITS_METRIC = Metric("FD to real digits (n = 297)", False, log_axis=True)


def metric_floor(dataset: str) -> tuple[str, float] | None:
    """What real data scores on the dataset's metric, where it has such a floor (digits: FD of the
    297 held-out real digits)."""
    if dataset != "digits":
        return None
    from explorer.evaluation.sample_report import fd_floor

    return "297 real held-out digits", fd_floor()


def metric_for(dataset: str) -> Metric:
    if dataset == "spiral":
        return SPIRAL_METRIC
    if dataset == "digits":
        return DIGITS_METRIC
    return SLICED_METRIC


def sample_quality(dataset: str, noise: float, samples: torch.Tensor) -> float:
    """The quality metric of samples of `dataset` (points jittered by `noise` when trained); digits
    need at least 297 (FD's fixed n: a ValueError says so below it)."""
    if dataset == "spiral":
        return mean_spiral_distance(samples)
    if dataset == "digits":  # the Fréchet distance in the digits evaluator's features, at its fixed n
        from explorer.evaluation.sample_report import digits_fd

        return digits_fd(samples)
    held_out = data.make_points(dataset, 5000, noise, torch.Generator().manual_seed(12345)).x
    return sliced_wasserstein(samples.float(), held_out, torch.Generator().manual_seed(0))
