"""Noise schedules: beta_t and everything derived from it.

Time convention: `t` is a 0-based index 0..T-1. Index t holds the paper's step t+1,
so alpha_bar[t] = prod_{s <= t} alpha[s] is the signal kept after t+1 forward steps,
and the data x0 sits "before" index 0. All tables are float64; `extract` casts to
the dtype of the tensor they scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from explorer.limits import MAX_T, MIN_T, check_int

MAX_BETA = 0.999  # Nichol & Dhariwal clip betas at 0.999 to avoid singularities near t = T


def linear_betas(T: int) -> torch.Tensor:
    """Ho et al. 2020: beta linear from 1e-4 to 0.02 at T = 1000, rescaled by 1000 / T."""
    scale = 1000.0 / T
    return torch.linspace(scale * 1e-4, scale * 0.02, T, dtype=torch.float64)


def scaled_linear_betas(T: int) -> torch.Tensor:
    """Linear in sqrt(beta) (Stable Diffusion's 0.00085 -> 0.012 at T = 1000, rescaled)."""
    scale = 1000.0 / T
    start, end = math.sqrt(scale * 0.00085), math.sqrt(scale * 0.012)
    return torch.linspace(start, end, T, dtype=torch.float64) ** 2


def sigmoid_betas(T: int) -> torch.Tensor:
    """beta = sigmoid(linspace(-6, 6)) mapped onto the linear schedule's range."""
    scale = 1000.0 / T
    start, end = scale * 1e-4, scale * 0.02
    return torch.sigmoid(torch.linspace(-6.0, 6.0, T, dtype=torch.float64)) * (end - start) + start


def cosine_betas(T: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal 2021, eq. 17: alpha_bar(t) = f(t) / f(0),
    f(t) = cos^2(((t / T + s) / (1 + s)) * pi / 2); beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return 1.0 - f[1:] / f[:-1]


SCHEDULES: dict[str, Callable[[int], torch.Tensor]] = {
    "linear": linear_betas,
    "cosine": cosine_betas,
    "sigmoid": sigmoid_betas,
    "scaled_linear": scaled_linear_betas,
}


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2024, Algorithm 1: shift and scale sqrt(alpha_bar) so that the last
    value is exactly 0 (zero terminal SNR) while the first is unchanged."""
    sqrt_ab = torch.cumprod(1.0 - betas, 0).sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    alpha_bar = sqrt_ab**2
    alphas = torch.cat([alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]])
    return 1.0 - alphas


@dataclass(frozen=True)
class NoiseSchedule:
    """Every per-timestep table a Gaussian diffusion needs (index t = paper's t + 1)."""

    name: str
    T: int
    zero_terminal_snr: bool
    betas: torch.Tensor  # (T,)
    alphas: torch.Tensor  # alpha_t = 1 - beta_t
    alpha_bar: torch.Tensor  # prod_{s<=t} alpha_s
    alpha_bar_prev: torch.Tensor  # alpha_bar_{t-1}, with alpha_bar_{-1} = 1 (the data)
    sqrt_alpha_bar: torch.Tensor  # signal scale of q(x_t | x0)
    sqrt_one_minus_alpha_bar: torch.Tensor  # noise scale of q(x_t | x0)
    snr: torch.Tensor  # alpha_bar / (1 - alpha_bar)
    log_snr: torch.Tensor  # log SNR; -inf at a zero-terminal-SNR final step
    beta_tilde: torch.Tensor  # posterior variance, Ho et al. eq. 7
    kind: str = "vp"  # "vp": variance preserving; "flow": rectified flow, where the scales below are 1 - t and t


FLOW = "flow"  # rectified flow's straight path, a process of its own rather than a beta schedule


PROCESSES = sorted([*SCHEDULES, FLOW])


def flow_schedule(T: int) -> NoiseSchedule:
    """Rectified flow (Liu et al. 2023): x_t = (1 - t) x0 + t eps on the grid t = (k + 1) / T,
    k = 0..T-1. sqrt_alpha_bar and sqrt_one_minus_alpha_bar hold the path's own scales 1 - t
    and t (so q_sample and the x0/eps conversions apply unchanged); alpha_bar, the SNR and
    the betas are those of the variance-preserving process with the same SNR, (1 - t)^2 / t^2."""
    T = check_int("T", T, MIN_T, MAX_T)
    t = torch.arange(1, T + 1, dtype=torch.float64) / T
    a, s = 1.0 - t, t
    alpha_bar = a**2 / (a**2 + s**2)
    alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    betas = 1.0 - alpha_bar / alpha_bar_prev
    snr = alpha_bar / (1.0 - alpha_bar)
    return NoiseSchedule(
        name=FLOW, T=T, zero_terminal_snr=True, betas=betas, alphas=1.0 - betas, alpha_bar=alpha_bar,
        alpha_bar_prev=alpha_bar_prev, sqrt_alpha_bar=a, sqrt_one_minus_alpha_bar=s, snr=snr, log_snr=snr.log(),
        beta_tilde=betas * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar), kind="flow",
    )  # fmt: skip


def make_schedule(name: str, T: int, zero_terminal_snr: bool = False) -> NoiseSchedule:
    """Build the named schedule with T steps (MIN_T <= T <= MAX_T); betas are clipped
    to MAX_BETA, which only binds for cosine near t = T and for very short linear runs.
    The name FLOW gives rectified flow's straight path instead (its SNR reaches 0 at t = T)."""
    if name == FLOW:
        return flow_schedule(T)
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose from {PROCESSES}")
    T = check_int("T", T, MIN_T, MAX_T)
    betas = SCHEDULES[name](T).clamp(max=MAX_BETA)
    if zero_terminal_snr:
        betas = rescale_zero_terminal_snr(betas)
    alphas = 1.0 - betas
    alpha_bar = torch.cumprod(alphas, 0)
    alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    snr = alpha_bar / (1.0 - alpha_bar)
    return NoiseSchedule(
        name=name,
        T=T,
        zero_terminal_snr=zero_terminal_snr,
        betas=betas,
        alphas=alphas,
        alpha_bar=alpha_bar,
        alpha_bar_prev=alpha_bar_prev,
        sqrt_alpha_bar=alpha_bar.sqrt(),
        sqrt_one_minus_alpha_bar=(1.0 - alpha_bar).sqrt(),
        snr=snr,
        log_snr=snr.log(),
        beta_tilde=betas * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar),  # Ho et al. eq. 7
    )


def extract(table: torch.Tensor, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
    """table[t] shaped to broadcast against `like` (B, ...): (B, 1, 1, ...) for a batch of
    timesteps, a 0-d tensor for one int; cast to like's dtype and device."""
    values = table.to(device=like.device)[t]
    if values.dim() > 0:
        values = values.reshape(values.shape[0], *([1] * (like.dim() - 1)))
    return values.to(dtype=like.dtype)
