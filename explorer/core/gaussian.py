"""The Gaussian forward process of DDPM (Ho et al. 2020) and its conversions.

Time convention: `t` is a 0-based index 0..T-1 into the schedule's tables, so
`q_sample(x0, t)` returns the paper's x_{t+1}. Tensors are (B, ...) with any
trailing shape: points (B, 2) and images (B, C, H, W) share every function.
"""

from __future__ import annotations

import math

import torch

from explorer.core import draws
from explorer.core.schedules import NoiseSchedule, extract, scales


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
    """The shortcut q(x_t | x0) = N(sqrt(alpha_bar_t) x0, (1 - alpha_bar_t) I) (eq. 4),
    reparameterised with the given standard-normal eps."""
    return extract(schedule.sqrt_alpha_bar, t, x0) * x0 + extract(schedule.sqrt_one_minus_alpha_bar, t, x0) * eps


def q_step(schedule: NoiseSchedule, x_prev: torch.Tensor, t: int, generator: torch.Generator) -> torch.Tensor:
    """One link of the chain q(x_t | x_{t-1}) = N(r x_{t-1}, (s_t^2 - r^2 s_{t-1}^2) I), r = a_t / a_{t-1}: the
    Gaussian Markov chain whose marginals are q(x_t | x0) = N(a_t x0, s_t^2 I). For the variance-preserving
    process r = sqrt(alpha_t) and the variance is beta_t (Ho et al. eq. 2); for VE the variance is
    sigma_t^2 - sigma_{t-1}^2 (Song et al. 2021, eq. 9)."""
    z = draws.randn(x_prev.shape, generator, x_prev.device, x_prev.dtype)
    if schedule.kind == "vp":
        return extract(schedule.alphas.sqrt(), t, x_prev) * x_prev + extract(schedule.betas.sqrt(), t, x_prev) * z
    (a, s), (a_prev, s_prev) = scales(schedule, t), scales(schedule, t - 1)
    r = a / a_prev
    return r * x_prev + max(s**2 - (r * s_prev) ** 2, 0.0) ** 0.5 * z


def q_chain(schedule: NoiseSchedule, x0: torch.Tensor, t: int, generator: torch.Generator) -> torch.Tensor:
    """x at index t reached by t + 1 links of the chain from x0 (the slow way, for comparison)."""
    x = x0
    for s in range(t + 1):
        x = q_step(schedule, x, s, generator)
    return x


def q_posterior(
    schedule: NoiseSchedule, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor | int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean mu~_t and variance beta~_t of q(x_{t-1} | x_t, x0) (eq. 6-7).
    At index 0 the 'previous' state is the data itself: mean x0, variance 0."""
    coef_x0 = schedule.betas * schedule.alpha_bar_prev.sqrt() / (1.0 - schedule.alpha_bar)
    coef_xt = (1.0 - schedule.alpha_bar_prev) * schedule.alphas.sqrt() / (1.0 - schedule.alpha_bar)
    mean = extract(coef_x0, t, xt) * x0 + extract(coef_xt, t, xt) * xt
    return mean, extract(schedule.beta_tilde, t, xt)


def x0_from_eps(schedule: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
    """x^_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) (inverse of eq. 4).
    Undefined where alpha_bar_t = 0 (zero terminal SNR): use a v or x0 model there."""
    return (xt - extract(schedule.sqrt_one_minus_alpha_bar, t, xt) * eps) / extract(schedule.sqrt_alpha_bar, t, xt)


def eps_from_x0(schedule: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor | int, x0: torch.Tensor) -> torch.Tensor:
    """eps = (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t)."""
    return (xt - extract(schedule.sqrt_alpha_bar, t, xt) * x0) / extract(schedule.sqrt_one_minus_alpha_bar, t, xt)


def v_from_eps_x0(schedule: NoiseSchedule, t: torch.Tensor | int, eps: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x0 (Salimans & Ho 2022, sec. 4)."""
    return extract(schedule.sqrt_alpha_bar, t, x0) * eps - extract(schedule.sqrt_one_minus_alpha_bar, t, x0) * x0


def x0_from_v(schedule: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor | int, v: torch.Tensor) -> torch.Tensor:
    """x0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v (defined at every t)."""
    return extract(schedule.sqrt_alpha_bar, t, xt) * xt - extract(schedule.sqrt_one_minus_alpha_bar, t, xt) * v


def eps_from_v(schedule: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor | int, v: torch.Tensor) -> torch.Tensor:
    """eps = sqrt(1 - alpha_bar_t) x_t + sqrt(alpha_bar_t) v."""
    return extract(schedule.sqrt_one_minus_alpha_bar, t, xt) * xt + extract(schedule.sqrt_alpha_bar, t, xt) * v


def standard_normal_pdf(v: torch.Tensor) -> torch.Tensor:
    """The N(0, 1) density, the limit q(x_T) approaches."""
    return torch.exp(-0.5 * v**2) / math.sqrt(2 * math.pi)


def marginal_pdf(v: torch.Tensor, centres: torch.Tensor, signal: float, noise: float) -> torch.Tensor:
    """Density of one coordinate of q(x_t) = (1/N) sum_i N(signal * c_i, noise^2) for data
    coordinates c_i (a Gaussian mixture, exact for the empirical data distribution)."""
    if noise <= 0:
        raise ValueError("the marginal of the data itself (noise 0) has no density")
    z = (v[:, None] - signal * centres[None, :]) / noise  # (G, N)
    return standard_normal_pdf(z).mean(dim=1) / noise


def score_from_eps(schedule: NoiseSchedule, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
    """grad log q(x_t) = -E[eps | x_t] / s_t (Song et al. 2021; Vincent 2011): any noise predictor is a
    score model, and so is a flow model through its eps_hat = x_t + a u."""
    return -eps / extract(schedule.sqrt_one_minus_alpha_bar, t, eps)


def tweedie_x0(schedule: NoiseSchedule, xt: torch.Tensor, t: torch.Tensor | int, score: torch.Tensor) -> torch.Tensor:
    """Tweedie's formula: E[x0 | x_t] = (x_t + s_t^2 grad log q(x_t)) / a_t."""
    s = extract(schedule.sqrt_one_minus_alpha_bar, t, xt)
    return (xt + s**2 * score) / extract(schedule.sqrt_alpha_bar, t, xt)
