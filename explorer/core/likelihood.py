"""The variational bound of a Gaussian diffusion, term by term (Ho et al. 2020, eq. 5; Kingma et al. 2021).

-log p(x0) <= L_T + sum_{t=2}^{T} L_{t-1} + L_0, with
  L_T     = KL(q(x_T | x0) || N(0, I)),
  L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t)),  p = N(mu~(x_t, x0_hat), sigma_t^2 I),
  L_0     = -log p(x0 | x_1), a discretised Gaussian over the data's grey levels (eq. 13) or,
            for continuous points, a Gaussian density.
Both Gaussians of L_{t-1} share the posterior's mean formula, so the mean term is
coef_x0(t)^2 |x0 - x0_hat|^2 / (2 sigma_t^2): with sigma_t^2 = beta~_t that is Kingma et al.'s
(SNR(t-1) - SNR(t)) / 2 |x0 - x0_hat|^2 (the tests check the identity).

Time convention: `t` is the 0-based schedule index (core.schedules); index t holds the paper's
t + 1, so L_{t-1} at index t >= 1 compares the posteriors of x at index t - 1, and L_0 is the
decoder at index 0. Every function returns nats, summed over each item's dimensions.
"""

from __future__ import annotations

import math
from enum import StrEnum

import torch

from explorer.core.schedules import NoiseSchedule


class ReverseVariance(StrEnum):
    """sigma_t^2 of the reverse step p(x_{t-1} | x_t): Ho et al.'s two fixed choices."""

    BETA = "beta"  # optimal when x0 ~ N(0, I) (Ho et al. sec. 3.2)
    BETA_TILDE = "beta_tilde"  # the posterior's own variance: optimal when x0 is one fixed point


REVERSE_VARIANCES = tuple(v.value for v in ReverseVariance)


def reverse_variances(schedule: NoiseSchedule, variance: str) -> torch.Tensor:
    """sigma_t^2 at every index (float64, (T,)). Index 0 is the decoder's variance: beta_1 itself for the
    beta choice (Ho et al. 2020, sec. 3.2-3.3: sigma_1^2 = beta_1, the noise that reached x_1); beta~ is 0
    there (x0 is then known), so the beta~ choice takes beta~ at index 1, as Ho et al.'s code does. (That
    code uses beta~_2 for both; on VE, whose first step sigma_min^2 is a hundred times its next ones, it
    would make the decoder ten times too sharp.)"""
    if variance not in REVERSE_VARIANCES:
        raise ValueError(f"unknown reverse variance {variance!r}; choose from {list(REVERSE_VARIANCES)}")
    table = (schedule.betas if variance == ReverseVariance.BETA else schedule.beta_tilde).clone()
    if variance == ReverseVariance.BETA_TILDE:
        table[0] = schedule.beta_tilde[1] if schedule.T > 1 else schedule.betas[0]
    return table


def flat_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum over every axis but the first (one value per item)."""
    return values.reshape(values.shape[0], -1).sum(1)


def gaussian_kl(mean1: torch.Tensor, var1: torch.Tensor | float, mean2: torch.Tensor,
                var2: torch.Tensor | float) -> torch.Tensor:  # fmt: skip
    """KL(N(mean1, var1) || N(mean2, var2)) per coordinate, in nats (variances broadcast)."""
    var1, var2 = torch.as_tensor(var1, dtype=mean1.dtype), torch.as_tensor(var2, dtype=mean1.dtype)
    return 0.5 * (torch.log(var2 / var1) + (var1 + (mean1 - mean2) ** 2) / var2 - 1.0)


def prior_term(schedule: NoiseSchedule, x0: torch.Tensor) -> torch.Tensor:
    """L_T = KL(q(x_T | x0) || p(x_T)) per item, q(x_T | x0) = N(a_T x0, s_T^2 I) and the prior N(0, I)
    (N(0, sigma_max^2 I) for VE). The other terms read the VP process of the same SNR (the KLs are invariant
    under the per-step rescaling between them). For rectified flow a_T = 0 and s_T = 1, so L_T = 0."""
    a, s = schedule.sqrt_alpha_bar[-1].to(x0.dtype), schedule.sqrt_one_minus_alpha_bar[-1].to(x0.dtype)
    return flat_sum(gaussian_kl(a * x0, s**2, torch.zeros_like(x0), schedule.prior_std**2))


def posterior_x0_coefficient(schedule: NoiseSchedule) -> torch.Tensor:
    """coef_x0(t) = beta_t sqrt(ab_{t-1}) / (1 - ab_t), the weight of x0 in the posterior mean (eq. 7)."""
    return schedule.betas * schedule.alpha_bar_prev.sqrt() / (1.0 - schedule.alpha_bar)


def transition_term(schedule: NoiseSchedule, t: torch.Tensor, x0: torch.Tensor, x0_hat: torch.Tensor,
                    variance: str) -> torch.Tensor:  # fmt: skip
    """L_{t-1} per item at indices t >= 1 ((B,) tensor): the KL between q(x_{t-1} | x_t, x0) and the
    model's p(x_{t-1} | x_t) whose mean is the posterior mean with x0_hat in place of x0."""
    if bool((t < 1).any()):
        raise ValueError("L_{t-1} is defined from index 1 on; index 0 is the decoder L_0")
    sigma2 = reverse_variances(schedule, variance)[t].to(x0.dtype)
    tilde = schedule.beta_tilde[t].to(x0.dtype)
    coef = posterior_x0_coefficient(schedule)[t].to(x0.dtype)
    dims = x0[0].numel()
    log_terms = 0.5 * dims * (torch.log(sigma2 / tilde) + tilde / sigma2 - 1.0)
    return log_terms + coef**2 * flat_sum((x0 - x0_hat) ** 2) / (2.0 * sigma2)


def standard_normal_cdf(v: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(v / math.sqrt(2.0)))


def discretized_gaussian_log_probs(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor | float,
                                   levels: int, bound: float = 1.0) -> torch.Tensor:  # fmt: skip
    """log P(x) per coordinate for data on `levels` evenly spaced values in [-bound, bound], under
    N(mean, std^2) integrated over each value's bin (Ho et al. eq. 13): bins of width
    2 bound / (levels - 1) centred on the values, the outermost reaching to -inf and +inf, so the
    probabilities of the levels sum to 1."""
    half = bound / (levels - 1)
    std = torch.as_tensor(std, dtype=mean.dtype)
    upper = torch.where(x > bound - half, torch.ones_like(x), standard_normal_cdf((x + half - mean) / std))
    lower = torch.where(x < -bound + half, torch.zeros_like(x), standard_normal_cdf((x - half - mean) / std))
    # far in a tail both CDFs round to the same value: fall back on the density times the bin width
    density = -0.5 * ((x - mean) / std) ** 2 - torch.log(std * math.sqrt(2 * math.pi)) + math.log(2 * half)
    mass = upper - lower
    return torch.where(mass > 1e-12, torch.log(mass.clamp_min(1e-300)), density)


def decoder_term(schedule: NoiseSchedule, x0: torch.Tensor, x0_hat: torch.Tensor, variance: str,
                 levels: int | None, bound: float = 1.0) -> torch.Tensor:  # fmt: skip
    """L_0 = -log p(x0 | x_1) per item, p's mean the posterior mean at index 0, which is x0_hat itself
    (coef_xt vanishes there), and its variance sigma_1^2. With `levels` (images on that many grey
    levels) a discretised Gaussian, a probability; without (points), a Gaussian density."""
    var = reverse_variances(schedule, variance)[0].to(x0.dtype)
    if levels is not None:
        return -flat_sum(discretized_gaussian_log_probs(x0, x0_hat, var.sqrt(), levels, bound))
    log_density = -0.5 * (x0 - x0_hat) ** 2 / var - 0.5 * torch.log(2 * math.pi * var)
    return -flat_sum(log_density)


def elbo_weight(schedule: NoiseSchedule, variance: str) -> torch.Tensor:
    """The weight the ELBO puts on |eps - eps_hat|^2 at each index t >= 1 (Ho et al. eq. 12):
    beta_t^2 / (2 sigma_t^2 alpha_t (1 - ab_t)); L_simple weights every t by 1. Index 0 holds the
    decoder's Gaussian weight, 1 / (2 sigma_1^2) times (1 - ab_0) / ab_0, for the same comparison."""
    sigma2 = reverse_variances(schedule, variance)
    weight = schedule.betas**2 / (2 * sigma2 * schedule.alphas * (1.0 - schedule.alpha_bar))
    weight[0] = (1.0 - schedule.alpha_bar[0]) / schedule.alpha_bar[0] / (2 * sigma2[0])
    return weight


def bits_per_dim(nats: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Nats per item as bits per dimension."""
    return nats / (dims * math.log(2.0))
