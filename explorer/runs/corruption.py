"""The Discrete tab's corruption: digits, a sentence or an image, corrupted by a D3PM process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from explorer.core.discrete.process import (
    MAX_CATEGORIES,
    MIN_CATEGORIES,
    DiscreteProcess,
    coupled_sample,
    make_process,
    stationary,
)
from explorer.data.images import quantize
from explorer.data.text import DEFAULT_TEXT, TEXT_VOCAB, encode_text
from explorer.limits import check_int

CORRUPTION_DATASETS = ("digits", "text", "image")


@dataclass(frozen=True)
class CorruptionSettings:
    dataset: str = "digits"
    transition: str = "absorbing"
    T: int = 100
    K: int = 17  # images: levels to quantise to (digits: always their 17)
    n: int = 16
    seed: int = 0
    text: str = DEFAULT_TEXT
    image_path: str | None = None


@dataclass
class Corruption:
    settings: CorruptionSettings
    process: DiscreteProcess
    x0: torch.Tensor  # integer data: (N, 1, H, W) for images, (L,) for text
    u: torch.Tensor  # the fixed uniforms of coupled_sample
    marginals: torch.Tensor  # (T, S): q(x_t) averaged over the data's positions
    distance: torch.Tensor  # (T,): total variation between that marginal and the stationary distribution

    def categories(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """At the paper's t: the share of each state in this sample, the exact q(x_t) averaged over
        positions, the stationary distribution, and the total variation between the last two."""
        x = self.at(t)
        empirical = np.bincount(x.reshape(-1).numpy(), minlength=self.process.states) / x.numel()
        exact = self.marginals[t - 1].numpy() if t > 0 else empirical
        limit = stationary(self.process).numpy()
        return empirical, exact, limit, 0.5 * float(np.abs(exact - limit).sum())

    def at(self, t: int) -> torch.Tensor:
        """x_t at the paper's t (0: the data)."""
        t = check_int("t", t, 0, self.process.T)
        return self.x0 if t == 0 else coupled_sample(self.process, self.x0, t - 1, self.u)


@lru_cache(maxsize=8)
def corruption(settings: CorruptionSettings) -> Corruption:
    """Build the process and the data, and the exact marginal at every t."""
    from explorer import data
    from explorer.limits import MAX_IMAGES

    if settings.dataset not in CORRUPTION_DATASETS:
        raise ValueError(f"unknown dataset {settings.dataset!r}; choose from {list(CORRUPTION_DATASETS)}")
    gen = torch.Generator().manual_seed(check_int("seed", settings.seed, 0, 2**31 - 1))
    if settings.dataset == "text":
        x0, K = encode_text(settings.text), len(TEXT_VOCAB)
    elif settings.dataset == "digits":
        n = check_int("number of images", settings.n, 1, MAX_IMAGES)
        levels, _ = data.digits_levels()
        x0, K = levels[torch.randperm(len(levels), generator=gen)[:n]], 17
    else:
        if not settings.image_path:
            raise ValueError("upload an image first")
        K = check_int("levels K", settings.K, MIN_CATEGORIES, MAX_CATEGORIES)
        x0 = quantize(data.load_image(settings.image_path, 32, grey=True), K)
    process = make_process(settings.transition, K, settings.T)
    u = torch.rand(x0.shape, generator=gen, dtype=torch.float64)
    counts = torch.bincount(x0.reshape(-1), minlength=process.states).double()
    marginals = (counts / counts.sum()) @ process.Qbar  # (T, S)
    distance = 0.5 * (marginals - stationary(process)).abs().sum(-1)
    return Corruption(settings, process, x0, u, marginals, distance)
