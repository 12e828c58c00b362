"""The 8x8 digits that ship inside scikit-learn: 1,797 images at 17 grey levels."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from explorer.limits import (
    MAX_IMAGES,
    check_int,
)


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # ships inside scikit-learn: no download

    bunch = load_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


def digits_levels() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits at their native 17 grey levels: (1797, 1, 8, 8) int64 in 0..16, labels."""
    images, labels = _digits_arrays()
    return torch.from_numpy(images).long().unsqueeze(1), torch.from_numpy(labels)


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as (1797, 1, 8, 8) float32 in [-1, 1], and their labels (1797,)."""
    levels, labels = digits_levels()
    return levels.float() / 16.0 * 2.0 - 1.0, labels


SPLIT_SEED, HELD_OUT = 0, 297  # the fixed train / held-out split of the 1,797 digits (1,500 / 297)


def split_indices() -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed split of the 1,797 digits: (training indices (1500,), held-out indices (297,)).
    The digits evaluator learns from the first; generative models trained with `holdout` never
    see the second, so FD, memorisation and likelihood can be measured on digits they have not met."""
    order = torch.randperm(len(_digits_arrays()[1]), generator=torch.Generator().manual_seed(SPLIT_SEED))
    return order[HELD_OUT:], order[:HELD_OUT]


def sample_digits(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n digits drawn without replacement: (n, 1, 8, 8) in [-1, 1] and labels (n,)."""
    n = check_int("number of images", n, 1, MAX_IMAGES)
    images, labels = digits()
    index = torch.randperm(images.shape[0], generator=generator)[:n]
    return images[index], labels[index]
