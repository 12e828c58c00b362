"""The D3PM reverse sampler: ancestral steps through q(x_s | x_t, x0) averaged over p(x0 | x_t)
(Austin et al. 2021, eq. 4).

Time convention: index k holds the paper's step t = k + 1; s = -1 is the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from explorer.core import draws
from explorer.core.discrete.process import DiscreteProcess, bayes_posterior, categorical, transition_between
from explorer.limits import check_int
from explorer.models.d3pm import model_logits


def visited(T: int, steps: int) -> list[int]:
    """`steps` step indices from T - 1 down to 0, evenly spaced (each a model call)."""
    steps = check_int("reverse steps", steps, 1, T)
    return [int(k) for k in np.unique(np.linspace(0, T - 1, steps).round().astype(int))[::-1]]


def prior_sample(process: DiscreteProcess, shape: tuple[int, ...], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> torch.Tensor:  # fmt: skip
    """x_T from the stationary distribution: all [MASK], or uniform levels."""
    if process.mask is not None:
        return torch.full(shape, process.mask, dtype=torch.long, device=device)
    return draws.randint(process.K, shape, generator, device)


def to_images(levels: torch.Tensor, K: int) -> torch.Tensor:
    """Grey levels 0..K-1 (or their expectation) as images in [-1, 1]."""
    return levels.float() / (K - 1) * 2 - 1


@dataclass
class DiscreteStep:
    """One reverse step from index k to s (-1: the data): the state reached, and the model's
    x0 guess made at k as its expected grey level in [-1, 1] (on the model's device: a run moves
    what it records in one transfer, not one a step)."""

    k: int
    s: int
    x: torch.Tensor  # (B, 1, H, W) integer states at s
    x0_mean: torch.Tensor  # (B, 1, H, W)
    nfe: int


@torch.no_grad()
def reverse_steps(
    model: torch.nn.Module, process: DiscreteProcess, x_T: torch.Tensor, steps: int,
    generator: torch.Generator,
) -> Iterator[DiscreteStep]:  # fmt: skip
    """Ancestral sampling over `steps` visited indices with eq. 4, p(x_s | x_k) proportional to
    sum over x0 of q(x_s, x_k | x0) p~(x0 | x_k), skips taken with Q_{s -> k}. The last step, to the
    data (s = -1), is the same formula with q(x_s | x0) = [x_s = x0], so an unmasked pixel keeps its
    level and an exact p~ gives exact marginals (tests/test_d3pm.py). Yields every step."""
    device = x_T.device
    ks = visited(process.T, steps)
    levels = torch.arange(process.K, device=device, dtype=torch.float32)
    x = x_T
    for i, k in enumerate(ks):
        s = ks[i + 1] if i + 1 < len(ks) else -1
        logits = model_logits(model, x, torch.tensor(k, device=device), process.states).float()
        p0 = torch.softmax(logits, -1)
        if process.mask is not None:
            p0 = torch.cat([p0, p0.new_zeros(*p0.shape[:-1], 1)], -1)
        forward = transition_between(process, s, k).float().to(device)
        prior = process.Qbar[s].float().to(device) if s >= 0 else torch.eye(process.states, device=device)
        x = categorical(bayes_posterior(p0, x, forward, prior), generator)
        mean = (p0[..., : process.K] * levels).sum(-1)
        yield DiscreteStep(k, s, x, to_images(mean, process.K), i + 1)
