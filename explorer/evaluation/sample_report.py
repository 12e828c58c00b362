"""What a set of samples scores, for the `evaluate` command, the benchmarks and the tabs.

Digits: the Fréchet distance (FD) in the digits evaluator's 128-d penultimate features to the
evaluator's training split (1,500 digits), at n = FD_N samples (the held-out split's size, so the
floor is measured at the same n); the floor is the same statistic for the 297 held-out real digits,
each with a jackknife interval. k-NN precision and recall (k = 3) in the same features against all
1,500 training-split digits (with 297 of them, uniform noise scored precision 0.70 against the real
floor's 0.88: a few outlying real digits' wide balls cover it; with 1,500, 0.17 against 0.84), beside
the held-out digits' own (their floor). The memorised share counts
samples whose nearest / second-nearest training distance is under 1/3 (against all 1,797 digits).
Points: the distances of explorer.evaluation.metrics and precision / recall in the plane, against
fresh points of the model's dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from explorer import data
from explorer.evaluation.digits import HELD_OUT, classifier, evaluate_digits, split
from explorer.evaluation.fidelity import (
    GaussianStats,
    Interval,
    frechet_distance,
    gaussian_stats,
    jackknife_fd,
    precision_recall,
)
from explorer.evaluation.metrics import energy_distance, mean_spiral_distance, sliced_wasserstein

FD_N = HELD_OUT  # every digits FD is measured on this many samples (297), as its floor is
K_NEIGHBOURS = 3
REFERENCE_SEED = 2**20 + 7  # fresh points to compare point samples with, apart from every training seed


@torch.no_grad()
def digit_features(images: torch.Tensor) -> torch.Tensor:
    """The evaluator's penultimate features (N, 128) of (N, 1, 8, 8) images in [-1, 1]."""
    return classifier().features(images.detach().float().cpu().clamp(-1, 1)).double()


@dataclass(frozen=True)
class _Reference:
    """What every digits report compares with, computed once per evaluator: the training split's
    features and their statistics, and the held-out digits' floors."""

    stats: GaussianStats
    train: torch.Tensor
    fd_floor: Interval
    precision_floor: float
    recall_floor: float


@lru_cache(maxsize=1)
def _reference(evaluator: torch.nn.Module) -> _Reference:
    x_train, _, x_test, _ = split()
    train, held_out = digit_features(x_train), digit_features(x_test)
    stats = gaussian_stats(train)
    return _Reference(stats, train, jackknife_fd(held_out, stats), *precision_recall(train, held_out, K_NEIGHBOURS))


@lru_cache(maxsize=1)
def _held_out_stats(evaluator: torch.nn.Module) -> GaussianStats:
    return gaussian_stats(digit_features(split()[2]))


def fd_to_held_out(samples: torch.Tensor) -> float:
    """FD of the first FD_N samples to the 297 held-out digits (what a model trained with holdout
    never saw: the figure early stopping reads, training.selection)."""
    if len(samples) < FD_N:
        raise too_few(len(samples), FD_N, "The Fréchet distance")
    return frechet_distance(gaussian_stats(digit_features(samples[:FD_N])), _held_out_stats(classifier()))


def fd_floor() -> float:
    """FD of the 297 held-out real digits to the training split: the floor every digits FD is read against."""
    return _reference(classifier()).fd_floor.value


def digits_fd(samples: torch.Tensor) -> float:
    """FD of the first FD_N samples to the evaluator's training split (the value digits_quality reports)."""
    if len(samples) < FD_N:
        raise too_few(len(samples), FD_N, "The Fréchet distance")
    return frechet_distance(gaussian_stats(digit_features(samples[:FD_N])), _reference(classifier()).stats)


@dataclass(frozen=True)
class DigitsQuality:
    n: int
    fd: Interval
    fd_floor: Interval
    precision: float
    recall: float
    precision_floor: float
    recall_floor: float
    memorised_share: float
    confidence: float


def too_few(n: int, needed: int, what: str) -> ValueError:
    return ValueError(f"{what} ranks sample sets only at n = {needed} or more (it is biased at small n); "
                      f"got {n}: draw at least {needed} samples")  # fmt: skip


def digits_quality(samples: torch.Tensor) -> DigitsQuality:
    """FD (to the training split, at n = FD_N), its floor, precision / recall and their floors, memorised share."""
    if len(samples) < FD_N:
        raise too_few(len(samples), FD_N, "The Fréchet distance")
    ref = _reference(classifier())
    fake = digit_features(samples[:FD_N])
    precision, recall = precision_recall(ref.train, fake, K_NEIGHBOURS)
    report = evaluate_digits(samples)
    return DigitsQuality(
        n=FD_N, fd=jackknife_fd(fake, ref.stats), fd_floor=ref.fd_floor, precision=precision, recall=recall,
        precision_floor=ref.precision_floor, recall_floor=ref.recall_floor, memorised_share=report.memorised,
        confidence=report.confidence,
    )  # fmt: skip


MIN_POINTS = 200  # fewer points cannot rank by k-NN precision / recall or the sliced distance


def points_quality(samples: torch.Tensor, dataset: str, noise: float, seed: int = 0) -> dict[str, float]:
    """Point samples against as many fresh points of their dataset: distances and precision / recall."""
    n = len(samples)
    if n < MIN_POINTS:
        raise too_few(n, MIN_POINTS, "Precision and recall")
    fresh = data.make_points(dataset, n, noise, torch.Generator().manual_seed(REFERENCE_SEED + seed)).x.float()
    samples = samples.float()
    precision, recall = precision_recall(fresh, samples, K_NEIGHBOURS)
    report = {"sliced_wasserstein": sliced_wasserstein(samples, fresh, torch.Generator().manual_seed(seed)),
              "energy_distance": energy_distance(samples, fresh), "precision": precision, "recall": recall}  # fmt: skip
    if dataset == "spiral":
        report["spiral_distance"] = mean_spiral_distance(samples)
    return report
