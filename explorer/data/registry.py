"""The dataset registry: each dataset's kind (points, image or categorical) before it is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DataKind(StrEnum):
    """What a dataset (and a model trained on it) holds; equal to its plain string."""

    POINTS = "points"
    IMAGE = "image"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class DatasetInfo:
    """What the UI and the samplers need to know about a dataset before loading it."""

    name: str
    kind: DataKind
    label: str


DATASETS: dict[str, DatasetInfo] = {
    "spiral": DatasetInfo("spiral", DataKind.POINTS, "Spiral"),
    "swiss_roll": DatasetInfo("swiss_roll", DataKind.POINTS, "Swiss roll"),
    "two_moons": DatasetInfo("two_moons", DataKind.POINTS, "Two moons"),
    "eight_gaussians": DatasetInfo("eight_gaussians", DataKind.POINTS, "Eight Gaussians"),
    "checkerboard": DatasetInfo("checkerboard", DataKind.POINTS, "Checkerboard"),
    "rings": DatasetInfo("rings", DataKind.POINTS, "Concentric rings"),
    "patterns": DatasetInfo("patterns", DataKind.POINTS, "Several patterns (4 classes)"),
    "digits": DatasetInfo("digits", DataKind.IMAGE, "Digits (8x8, scikit-learn)"),
    "upload": DatasetInfo("upload", DataKind.IMAGE, "Your image (upload)"),
}


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for `name`, or a ValueError listing the choices."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name]
