"""The ideal denoiser of a finite training set: E[x0 | x_t] under its empirical distribution.

Time convention: `t` is the 0-based schedule index (see core.schedules).
"""

from __future__ import annotations

import math

import torch

from explorer.core.schedules import NoiseSchedule


def noised_mixture(
    schedule: NoiseSchedule, x: torch.Tensor, t: int, train: torch.Tensor, chunk: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """E[x0 | x_t] and log q(x_t) for the empirical training distribution noised at index t, the
    mixture (1/M) sum_i N(a x_i, s^2 I) with x_t = a x0 + s eps: the posterior mean is sum_i w_i x_i with
    w = softmax_i(-|x_t - a x_i|^2 / (2 s^2)), and log q = logsumexp_i(...) - log M - D/2 log(2 pi s^2)."""
    a = float(schedule.sqrt_alpha_bar[t])
    var = float(schedule.sqrt_one_minus_alpha_bar[t]) ** 2  # 1 - ab_t; t^2 on rectified flow's path
    flat_train = train.reshape(train.shape[0], -1).to(device=x.device, dtype=x.dtype)
    dims = flat_train.shape[1]
    log_norm = math.log(flat_train.shape[0]) + dims / 2 * math.log(2 * math.pi * var)
    means, log_q = [], []
    for start in range(0, x.shape[0], chunk):  # bound memory at chunk x M distances
        block = x[start : start + chunk].reshape(-1, dims)
        logits = torch.cdist(block, a * flat_train).pow_(2).div_(-2 * var)  # (B, M)
        top = logits.max(dim=1, keepdim=True).values
        weights = logits.sub_(top).exp_()  # one exp pass serves the softmax and the logsumexp
        total = weights.sum(dim=1, keepdim=True)
        means.append((weights @ flat_train) / total)
        log_q.append((top + total.log()).squeeze(1) - log_norm)
    return torch.cat(means).reshape(x.shape), torch.cat(log_q)


def ideal_x0(schedule: NoiseSchedule, xt: torch.Tensor, t: int, train: torch.Tensor) -> torch.Tensor:
    """The MMSE-optimal x0_hat(x_t) = E[x0 | x_t] for the empirical distribution of a finite training
    set. A model that reaches it reproduces training points: memorisation made visible."""
    return noised_mixture(schedule, xt, t, train)[0]


def empirical_score(
    schedule: NoiseSchedule, x: torch.Tensor, t: int, train: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact score and log-density of the noised empirical distribution: grad log q(x_t) =
    -(x_t - a E[x0 | x_t]) / s^2 (Tweedie's formula read backwards), and log q(x_t)."""
    x0_mean, log_q = noised_mixture(schedule, x, t, train)
    a, var = float(schedule.sqrt_alpha_bar[t]), float(schedule.sqrt_one_minus_alpha_bar[t]) ** 2
    return -(x - a * x0_mean) / var, log_q
