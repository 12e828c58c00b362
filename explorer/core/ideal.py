"""The ideal denoiser of a finite training set: E[x0 | x_t] under its empirical distribution.

Time convention: `t` is the 0-based schedule index (see core.schedules).
"""

from __future__ import annotations

import torch

from explorer.core.schedules import NoiseSchedule


def ideal_x0(schedule: NoiseSchedule, xt: torch.Tensor, t: int, train: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """The MMSE-optimal x0_hat(x_t) = E[x0 | x_t] for the empirical distribution of a finite
    training set {x_i}: sum_i w_i x_i with w = softmax_i(-|x_t - sqrt(ab_t) x_i|^2 / (2 (1 - ab_t))).
    A model that reaches it reproduces training points: memorisation made visible."""
    sqrt_ab = float(schedule.sqrt_alpha_bar[t])
    var = float(schedule.sqrt_one_minus_alpha_bar[t]) ** 2  # 1 - ab_t; t^2 on rectified flow's path
    flat_train = train.reshape(train.shape[0], -1).to(xt.dtype)
    out = []
    for start in range(0, xt.shape[0], chunk):  # bound memory at chunk x M distances
        block = xt[start : start + chunk].reshape(-1, flat_train.shape[1])
        logits = -torch.cdist(block, sqrt_ab * flat_train).pow(2) / (2 * var)  # (B, M)
        out.append(torch.softmax(logits, dim=1) @ flat_train)
    return torch.cat(out).reshape(xt.shape)
