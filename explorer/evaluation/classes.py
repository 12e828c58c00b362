"""Class readings of class-conditional samples: the reference classifiers, precision and diversity."""

from __future__ import annotations

import torch

PATTERN_REFERENCE_N = 2000  # reference points per class for the patterns' classifier and coverage


COVERAGE_RADIUS = 0.05  # a reference point counts as covered when a sample lies this close


def pattern_reference(seed: int = 12345) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh points of the several-patterns set, PATTERN_REFERENCE_N per class: (x, label)."""
    from explorer import data

    gen = torch.Generator().manual_seed(seed)
    points = data.make_points("patterns", 4 * PATTERN_REFERENCE_N, 0.0, gen)
    return points.x, points.label


def classify_points(x: torch.Tensor) -> torch.Tensor:
    """The reference classifier for the patterns: the class of the nearest reference point."""
    ref, label = pattern_reference()
    return label[torch.cdist(x.float(), ref).argmin(1)]


def coverage(samples: torch.Tensor, reference: torch.Tensor, radius: float = COVERAGE_RADIUS) -> float:
    """Recall: the share of reference points with a sample within `radius` (0 when all samples
    collapse onto a small part of the class, 1 when they spread over all of it)."""
    if len(samples) == 0:
        return 0.0
    return float((torch.cdist(reference.float(), samples.float()).min(1).values < radius).float().mean())


def spread_ratio(samples: torch.Tensor, real: torch.Tensor) -> float:
    """Diversity for images: mean pairwise distance of the samples over that of real images of
    the class (1: as varied as the data, 0: all the same image)."""

    def spread(x: torch.Tensor) -> float:
        flat = x.reshape(len(x), -1).float()
        return float(torch.pdist(flat).mean()) if len(flat) > 1 else 0.0

    return spread(samples) / max(spread(real), 1e-12)


def class_precision(samples: torch.Tensor, label: int, dataset: str) -> float:
    """The share of samples the reference classifier assigns to class `label` (digits: the digits
    CNN; patterns: the class of the nearest reference point)."""
    from explorer.evaluation.digits import predict_digits

    predicted = predict_digits(samples) if dataset == "digits" else classify_points(samples)
    return float((predicted == label).float().mean())


def class_readings(samples: torch.Tensor, label: int, dataset: str) -> tuple[float, float]:
    """(precision, diversity) of samples asked to be of class `label`: class_precision, and
    coverage of the class (patterns) or the spread ratio (digits)."""
    from explorer import data

    precision = class_precision(samples, label, dataset)
    if dataset == "digits":
        images, labels = data.digits()
        return precision, spread_ratio(samples, images[labels == label])
    ref, ref_label = pattern_reference()
    return precision, coverage(samples, ref[ref_label == label])
