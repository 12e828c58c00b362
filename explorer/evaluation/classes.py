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


def digit_class_recall(samples: torch.Tensor, label: int) -> float:
    """Diversity for digits: k-NN recall (Kynkäänniemi et al. 2019, k = 3) in the digits evaluator's
    features of the class's real digits (the evaluator's training split) by the samples: the share of
    them inside the union of balls around the samples. Over-guided samples crowd onto a few prototypes
    and cover few real digits; a pixel-spread ratio misread their grain as variety."""
    from explorer.evaluation.digits import split
    from explorer.evaluation.fidelity import precision_recall
    from explorer.evaluation.sample_report import K_NEIGHBOURS, digit_features

    if len(samples) <= K_NEIGHBOURS:
        raise ValueError(f"recall needs more than {K_NEIGHBOURS} samples (each one's ball reaches its "
                         f"{K_NEIGHBOURS}rd nearest neighbour)")  # fmt: skip
    x_train, y_train, _, _ = split()
    return precision_recall(digit_features(x_train[y_train == label]), digit_features(samples), K_NEIGHBOURS)[1]


def class_precision(samples: torch.Tensor, label: int, dataset: str) -> float:
    """The share of samples the reference classifier assigns to class `label` (digits: the digits
    CNN; patterns: the class of the nearest reference point)."""
    from explorer.evaluation.digits import predict_digits

    predicted = predict_digits(samples) if dataset == "digits" else classify_points(samples)
    return float((predicted == label).float().mean())


def class_readings(samples: torch.Tensor, label: int, dataset: str) -> tuple[float, float]:
    """(precision, diversity) of samples asked to be of class `label`: class_precision, and
    coverage of the class (patterns) or the evaluator-feature recall of the class (digits)."""
    precision = class_precision(samples, label, dataset)
    if dataset == "digits":
        return precision, digit_class_recall(samples, label)
    ref, ref_label = pattern_reference()
    return precision, coverage(samples, ref[ref_label == label])
