"""The dataset registry: each dataset's kind (points, image or categorical) before it is loaded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    """What the UI and the samplers need to know about a dataset before loading it."""

    name: str
    kind: str  # "points" | "image" | "categorical"
    label: str


DATASETS: dict[str, DatasetInfo] = {
    "spiral": DatasetInfo("spiral", "points", "Spiral"),
    "swiss_roll": DatasetInfo("swiss_roll", "points", "Swiss roll"),
    "two_moons": DatasetInfo("two_moons", "points", "Two moons"),
    "eight_gaussians": DatasetInfo("eight_gaussians", "points", "Eight Gaussians"),
    "checkerboard": DatasetInfo("checkerboard", "points", "Checkerboard"),
    "rings": DatasetInfo("rings", "points", "Concentric rings"),
    "patterns": DatasetInfo("patterns", "points", "Several patterns (4 classes)"),
    "digits": DatasetInfo("digits", "image", "Digits (8x8, scikit-learn)"),
    "upload": DatasetInfo("upload", "image", "Your image (upload)"),
}


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for `name`, or a ValueError listing the choices."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name]
