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

from explorer.limits import MAX_T, MIN_T, check_float, check_int

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
    kind: str = "vp"  # "vp" variance preserving; "flow", "ve", "subvp": the scales above are the process's own
    prior_std: float = 1.0  # p(x_T) = N(0, prior_std^2 I): 1, or sigma_max for the variance-exploding process


FLOW = "flow"  # rectified flow's straight path, a process of its own rather than a beta schedule
VE = "ve"  # the variance-exploding SDE (Song et al. 2021), SMLD's noise levels
SUBVP = "subvp"  # the sub-VP SDE (Song et al. 2021, eq. 11)

PROCESSES = sorted([*SCHEDULES, FLOW, VE, SUBVP])

VE_SIGMA_MIN = 0.01  # Song et al. 2021's sigma_min for data on a unit scale
VE_SIGMA_MAX = 3.0  # the default sigma_max: the largest distance between two points of [-1, 1]^2 is 2.83
VP_BETA_MIN, VP_BETA_MAX = 0.1, 20.0  # the continuous VP/sub-VP beta(t) = beta_min + t (beta_max - beta_min)


def ve_sigma_max(x: torch.Tensor, limit: int = 2000) -> float:
    """Song & Ermon 2020, technique 1: sigma_max as large as the largest Euclidean distance between
    two training items (here among the first `limit`), so that q(x_T) covers the whole data set."""
    flat = x[:limit].reshape(min(len(x), limit), -1).double()
    return float(torch.cdist(flat, flat).max())


def _from_scales(name: str, kind: str, a: torch.Tensor, s: torch.Tensor, prior_std: float = 1.0) -> NoiseSchedule:
    """A process x_t = a_t x0 + s_t eps given by its own scales: alpha_bar, the betas and the SNR are
    those of the variance-preserving process with the same SNR a^2 / s^2 (x_vp = x / sqrt(a^2 + s^2)),
    so the samplers that work in sigma = s / a and the ELBO's KLs apply unchanged."""
    alpha_bar = a**2 / (a**2 + s**2)
    alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
    betas = 1.0 - alpha_bar / alpha_bar_prev
    snr = alpha_bar / (1.0 - alpha_bar)
    return NoiseSchedule(
        name=name, T=len(a), zero_terminal_snr=bool(a[-1] == 0), betas=betas, alphas=1.0 - betas,
        alpha_bar=alpha_bar, alpha_bar_prev=alpha_bar_prev, sqrt_alpha_bar=a, sqrt_one_minus_alpha_bar=s, snr=snr,
        log_snr=snr.log(), beta_tilde=betas * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar), kind=kind,
        prior_std=prior_std,
    )  # fmt: skip


def ve_schedule(T: int, sigma_max: float = VE_SIGMA_MAX, sigma_min: float = VE_SIGMA_MIN) -> NoiseSchedule:
    """The variance-exploding process x_t = x0 + sigma_t eps, sigma geometric from sigma_min to
    sigma_max over t = (k + 1) / T (Song et al. 2021, eq. 9 and sec. C.1), with the prior N(0, sigma_max^2)."""
    T = check_int("T", T, MIN_T, MAX_T)
    sigma_max = check_float("sigma_max", sigma_max, 10 * sigma_min, 1e4)
    t = torch.arange(1, T + 1, dtype=torch.float64) / T
    sigma = sigma_min * (sigma_max / sigma_min) ** t
    return _from_scales(VE, VE, torch.ones(T, dtype=torch.float64), sigma, prior_std=sigma_max)


def subvp_schedule(T: int) -> NoiseSchedule:
    """The sub-VP process (Song et al. 2021, eq. 11 and app. B): with B(t) the integral of the linear
    beta(t), x_t = e^{-B/2} x0 + (1 - e^{-B}) eps, whose variance stays below the VP process's."""
    T = check_int("T", T, MIN_T, MAX_T)
    t = torch.arange(1, T + 1, dtype=torch.float64) / T
    B = VP_BETA_MIN * t + 0.5 * (VP_BETA_MAX - VP_BETA_MIN) * t**2
    return _from_scales(SUBVP, SUBVP, torch.exp(-0.5 * B), -torch.expm1(-B))


def flow_schedule(T: int) -> NoiseSchedule:
    """Rectified flow (Liu et al. 2023): x_t = (1 - t) x0 + t eps on the grid t = (k + 1) / T,
    k = 0..T-1 (its SNR reaches 0 at t = T)."""
    T = check_int("T", T, MIN_T, MAX_T)
    t = torch.arange(1, T + 1, dtype=torch.float64) / T
    return _from_scales(FLOW, FLOW, 1.0 - t, t)


def make_schedule(name: str, T: int, zero_terminal_snr: bool = False, sigma_max: float | None = None) -> NoiseSchedule:
    """Build the named schedule with T steps (MIN_T <= T <= MAX_T); betas are clipped
    to MAX_BETA, which only binds for cosine near t = T and for very short linear runs.
    FLOW, VE (up to sigma_max; None: VE_SIGMA_MAX) and SUBVP give those processes instead."""
    if name == FLOW:
        return flow_schedule(T)
    if zero_terminal_snr and name in (VE, SUBVP):
        raise ValueError(f"zero-terminal-SNR rescaling (Lin et al. 2024) rescales a VP beta schedule; the "
                         f"{name} process has its own end: untick it, or choose a VP schedule")  # fmt: skip
    if name == VE:
        return ve_schedule(T, VE_SIGMA_MAX if sigma_max is None else sigma_max)
    if name == SUBVP:
        return subvp_schedule(T)
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


def scales(schedule: NoiseSchedule, t: int) -> tuple[float, float]:
    """(a, s) with x_t = a x0 + s eps at index t: (sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) for a
    variance-preserving schedule, the process's own scales otherwise; (1, 0) at the data, t = -1."""
    if t < 0:
        return 1.0, 0.0
    return float(schedule.sqrt_alpha_bar[t]), float(schedule.sqrt_one_minus_alpha_bar[t])


def extract(table: torch.Tensor, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
    """table[t] shaped to broadcast against `like` (B, ...): (B, 1, 1, ...) for a batch of
    timesteps, a 0-d tensor for one int; cast to like's dtype and device."""
    values = table.to(device=like.device)[t]
    if values.dim() > 0:
        values = values.reshape(values.shape[0], *([1] * (like.dim() - 1)))
    return values.to(dtype=like.dtype)
