"""Samplers as generators of typed steps (the final sample is the last step's x).

Time convention: `t` is the 0-based schedule index; a step from index t produces the
state at index t - 1 (the data when t = 0). Every random draw takes the generator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from explorer.gaussian import eps_from_v, eps_from_x0, q_posterior, x0_from_eps, x0_from_v
from explorer.schedules import NoiseSchedule, extract

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> model output
DDPM_VARIANCES = ("beta", "beta_tilde")


@dataclass(frozen=True)
class Step:
    """One sampler iteration: from index t to t_prev (-1 is the data), with the model's
    estimate x0_hat made at t and the state x reached at t_prev."""

    t: int
    t_prev: int
    x: torch.Tensor
    x0_hat: torch.Tensor
    nfe: int


def predict_x0_eps(
    schedule: NoiseSchedule, output: torch.Tensor, xt: torch.Tensor, t: torch.Tensor | int, prediction: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0_hat, eps_hat) from a model output that predicts eps, x0 or v."""
    if prediction == "eps":
        return x0_from_eps(schedule, xt, t, output), output
    if prediction == "x0":
        return output, eps_from_x0(schedule, xt, t, output)
    if prediction == "v":
        return x0_from_v(schedule, xt, t, output), eps_from_v(schedule, xt, t, output)
    raise ValueError(f"unknown prediction {prediction!r}; choose from ['eps', 'v', 'x0']")


@torch.no_grad()
def ddpm_steps(
    model: Denoiser,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    generator: torch.Generator,
    prediction: str = "eps",
    variance: str = "beta_tilde",
    clip_x0: float | None = None,
) -> Iterator[Step]:
    """Ancestral sampling, Ho et al. 2020 Algorithm 2: x_{t-1} = mu~_t(x_t, x0_hat) + sigma_t z,
    with sigma_t^2 = beta_t or beta~_t and no noise at the last step. x0_hat may be clipped
    to [-clip_x0, clip_x0] before the posterior mean is formed."""
    if variance not in DDPM_VARIANCES:
        raise ValueError(f"unknown DDPM variance {variance!r}; choose from {list(DDPM_VARIANCES)}")
    sigma2 = schedule.betas if variance == "beta" else schedule.beta_tilde
    x = x_T
    for t in range(schedule.T - 1, -1, -1):
        t_batch = torch.full((), t, dtype=torch.long, device=x.device)
        x0_hat, _ = predict_x0_eps(schedule, model(x, t_batch), x, t, prediction)
        if clip_x0 is not None:
            x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
        mean, _ = q_posterior(schedule, x0_hat, x, t)
        if t > 0:
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = mean + extract(sigma2.sqrt(), t, x) * z
        else:
            x = mean
        yield Step(t=t, t_prev=t - 1, x=x, x0_hat=x0_hat, nfe=schedule.T - t)


SPACINGS = ("leading", "trailing", "linspace", "quadratic")


def timesteps(T: int, S: int, spacing: str) -> list[int]:
    """The S timesteps (0-based, descending) a sampler visits, by spacing:
    leading: 0, T//S, 2 T//S, ... (DDIM's 'uniform'); trailing: T-1, T-1-T/S, ... (ends at
    T - 1, as Lin et al. 2024 advise); linspace: round(linspace(0, T - 1, S));
    quadratic: floor(linspace(0, sqrt(0.8 T), S)^2) (Song et al. 2021, appendix D.2), where
    repeats near 0 (from S of about 30 up, at T = 1000) are bumped up to stay distinct."""
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose from {sorted(SPACINGS)}")
    if not 1 <= S <= T:
        raise ValueError(f"steps must be between 1 and T = {T}, got {S}")
    if spacing == "leading":
        seq = np.arange(S) * (T // S)
    elif spacing == "trailing":
        seq = np.round(np.arange(T, 0, -T / S)).astype(int)[:S] - 1
    elif spacing == "linspace":
        seq = np.linspace(0, T - 1, S).round()
    else:
        seq = np.floor(np.linspace(0, np.sqrt(0.8 * T), S) ** 2)
    ascending = [int(t) for t in sorted(seq)]
    for i in range(1, S):  # strictly increasing: a repeated timestep would be a wasted model call
        ascending[i] = max(ascending[i], ascending[i - 1] + 1)
    if ascending[-1] > T - 1:
        raise ValueError(f"{spacing} spacing cannot place {S} distinct steps in T = {T}")
    return ascending[::-1]


def ddim_sigma(schedule: NoiseSchedule, t: int, t_prev: int, eta: float) -> float:
    """sigma_t(eta) = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev) (Song et al. 2021,
    eq. 16); ab_prev = 1 when t_prev = -1 (the data), where sigma is 0."""
    ab = float(schedule.alpha_bar[t])
    ab_prev = float(schedule.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
    return eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)) ** 0.5


@torch.no_grad()
def ddim_steps(
    model: Denoiser,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    generator: torch.Generator,
    prediction: str = "eps",
    steps: int = 50,
    eta: float = 0.0,
    spacing: str = "leading",
    clip_x0: float | None = None,
) -> Iterator[Step]:
    """DDIM, Song et al. 2021 eq. 12, over the timesteps of `spacing`:
    x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps_hat + sigma z.
    eta = 0 is deterministic; eta = 1 with S = T is DDPM with sigma^2 = beta_tilde."""
    if not 0.0 <= eta <= 1.0 or eta != eta:
        raise ValueError(f"eta must be between 0 and 1, got {eta}")
    seq = timesteps(schedule.T, steps, spacing)
    x = x_T
    for i, t in enumerate(seq):
        t_prev = seq[i + 1] if i + 1 < len(seq) else -1
        # 1. the model's estimates at t
        x0_hat, eps_hat = predict_x0_eps(
            schedule, model(x, torch.full((), t, dtype=torch.long, device=x.device)), x, t, prediction
        )
        if clip_x0 is not None:
            x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
            eps_hat = eps_from_x0(schedule, x, t, x0_hat)  # keep the pair consistent
        # 2. sigma_t(eta), eq. 16, and the signal kept at t_prev
        sigma = ddim_sigma(schedule, t, t_prev, eta)
        ab_prev = float(schedule.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
        # 3. x_prev, eq. 12: predicted x0, direction pointing to x_t, random noise
        x = ab_prev**0.5 * x0_hat + max(1 - ab_prev - sigma**2, 0.0) ** 0.5 * eps_hat
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


def last(steps: Iterator[Step]) -> Step:
    """Run a sampler to the end and keep its final step."""
    final = None
    for step in steps:
        final = step
    if final is None:
        raise ValueError("the sampler produced no steps")
    return final


@dataclass(frozen=True)
class SamplerSettings:
    """A sampler by name and its options (each sampler reads the ones it uses)."""

    name: str = "ddpm"
    steps: int = 50  # DDIM: S, the number of timesteps visited
    eta: float = 0.0  # DDIM: 0 deterministic, 1 DDPM-like
    spacing: str = "leading"  # DDIM: which S timesteps
    variance: str = "beta_tilde"  # DDPM: sigma_t^2
    clip_x0: float | None = None


SAMPLERS = ("ddpm", "ddim")


def sample_steps(
    settings: SamplerSettings,
    model: Denoiser,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    generator: torch.Generator,
    prediction: str = "eps",
) -> Iterator[Step]:
    """The named sampler's steps from x_T."""
    if settings.name == "ddpm":
        return ddpm_steps(model, schedule, x_T, generator, prediction, settings.variance, settings.clip_x0)
    if settings.name == "ddim":
        return ddim_steps(model, schedule, x_T, generator, prediction, settings.steps, settings.eta,
                          settings.spacing, settings.clip_x0)  # fmt: skip
    raise ValueError(f"unknown sampler {settings.name!r}; choose from {list(SAMPLERS)}")
