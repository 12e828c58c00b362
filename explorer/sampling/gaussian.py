"""Samplers as generators of typed steps (the final sample is the last step's x).

Each takes an Estimator (the network wrapped once: (x0_hat, eps_hat) at an index) and the
descending timestep list it visits (sampling.spacings.timesteps), in k-diffusion's style.

Time convention: `t` is the 0-based schedule index; a step from index t produces the
state at index t_prev (-1 is the data). Every random draw takes the generator.

All samplers share one model interface and differ only in the update. With
a = sqrt(alpha_bar_t), s = sqrt(1 - alpha_bar_t) and the pair (x0_hat, eps_hat) that the
model implies (x_t = a x0_hat + s eps_hat), the ODE/SDE solvers work in the
variance-exploding coordinates x~ = x / a, sigma = s / a of Karras et al. 2022, where the
probability-flow ODE is dx~/dsigma = eps_hat. In those coordinates an Euler step is exactly
DDIM with eta = 0 (the tests check it), and DPM-Solver++(1) is DDIM too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch

from explorer.core import draws
from explorer.core.gaussian import eps_from_x0
from explorer.core.parametrization import predict_x0_eps
from explorer.core.schedules import NoiseSchedule, scales
from explorer.sampling.spacings import step_pairs

StepT = TypeVar("StepT")  # a sampler's step record (Step here, DiscreteStep for D3PM)
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> model output


DDPM_VARIANCES = ("beta", "beta_tilde")


@dataclass(frozen=True)
class Step:
    """One sampler iteration: from index t to t_prev (-1 is the data), with the model's
    estimate x0_hat made at t and the state x reached at t_prev; nfe counts model calls so far."""

    t: int
    t_prev: int
    x: torch.Tensor
    x0_hat: torch.Tensor
    nfe: int


def model_estimates(
    model: Denoiser, schedule: NoiseSchedule, x: torch.Tensor, t: int, prediction: str, clip_x0: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One model call at index t: the consistent pair (x0_hat, eps_hat), x0_hat clipped if asked."""
    output = model(x, torch.full((), t, dtype=torch.long, device=x.device))
    x0_hat, eps_hat = predict_x0_eps(schedule, output, x, t, prediction)
    if clip_x0 is not None:
        x0_hat = x0_hat.clamp(-clip_x0, clip_x0)
        eps_hat = eps_from_x0(schedule, x, t, x0_hat)  # keep the pair consistent
    return x0_hat, eps_hat


@dataclass(frozen=True)
class Estimator:
    """A network wrapped once as what every sampler needs (k-diffusion's wrapped denoiser): at index t
    it returns the consistent pair (x0_hat, eps_hat), whatever the network predicts, x0_hat clipped
    to [-clip_x0, clip_x0] if asked. The samplers never see the parametrisation."""

    model: Denoiser
    schedule: NoiseSchedule
    prediction: str = "eps"
    clip_x0: float | None = None

    def __call__(self, x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        return model_estimates(self.model, self.schedule, x, t, self.prediction, self.clip_x0)


def vp_factor(schedule: NoiseSchedule, t: int) -> float:
    """r = sqrt(alpha_bar_t) / a_t = 1 / sqrt(a^2 + s^2): x_vp = r x maps a process's state onto the
    variance-preserving process with the same SNR, where DDPM's and DDIM's updates are written (1 for VP)."""
    if schedule.kind == "vp" or t < 0:
        return 1.0
    a, s = scales(schedule, t)
    return 1.0 / (a * a + s * s) ** 0.5


def noise_like(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return draws.randn(x.shape, generator, x.device, x.dtype)


@torch.no_grad()
def ddpm_steps(
    estimate: Estimator, x_T: torch.Tensor, ts: list[int], generator: torch.Generator, variance: str = "beta_tilde"
) -> Iterator[Step]:
    """Ancestral sampling, Ho et al. 2020 Algorithm 2: x_{t-1} = mu~_t(x_t, x0_hat) + sigma_t z,
    with sigma_t^2 = beta_t or beta~_t and no noise at the last step (x0_hat as the estimator gives
    it, clipped if it clips). Over fewer timesteps than T the chain is
    respaced (Nichol & Dhariwal 2021, sec. 4): over a jump t -> t', beta' = 1 - ab_t / ab_t',
    and beta~' follows eq. 7 with it (so beta_tilde is DDIM's eta = 1); with S = T, beta' = beta_t.
    Another process (VE, sub-VP) runs the same chain through x_vp = r x (see vp_factor): for VE this is
    SMLD's ancestral sampler (Song et al. 2021, app. F)."""
    schedule = estimate.schedule
    if variance not in DDPM_VARIANCES:
        raise ValueError(f"unknown DDPM variance {variance!r}; choose from {list(DDPM_VARIANCES)}")
    x = x_T
    for i, t, t_prev in step_pairs(ts):
        x0_hat, _ = estimate(x, t)
        ab, ab_prev = float(schedule.alpha_bar[t]), float(schedule.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
        beta = 1.0 - ab / ab_prev
        # posterior mean of q(x_t' | x_t, x0) for the respaced chain (Ho et al. eq. 7)
        x = (ab_prev**0.5 * beta / (1 - ab)) * x0_hat + ((1 - beta) ** 0.5 * (1 - ab_prev) / (1 - ab)) * (
            vp_factor(schedule, t) * x)  # fmt: skip
        if t_prev >= 0:
            var = beta if variance == "beta" else beta * (1 - ab_prev) / (1 - ab)
            x = x + var**0.5 * noise_like(x, generator)
        x = x / vp_factor(schedule, t_prev)
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


def ddim_sigma(schedule: NoiseSchedule, t: int, t_prev: int, eta: float) -> float:
    """sigma_t(eta) = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev) (Song et al. 2021,
    eq. 16); ab_prev = 1 when t_prev = -1 (the data), where sigma is 0."""
    ab = float(schedule.alpha_bar[t])
    ab_prev = float(schedule.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
    return eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)) ** 0.5


@torch.no_grad()
def ddim_steps(
    estimate: Estimator, x_T: torch.Tensor, ts: list[int], generator: torch.Generator, eta: float = 0.0
) -> Iterator[Step]:
    """DDIM, Song et al. 2021 eq. 12, over the descending timesteps ts:
    x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps_hat + sigma z.
    eta = 0 is deterministic; eta = 1 with S = T is DDPM with sigma^2 = beta_tilde. Another process
    (VE, sub-VP) takes the step in the VP process with its SNR and maps back (see vp_factor)."""
    schedule = estimate.schedule
    if not 0.0 <= eta <= 1.0 or eta != eta:
        raise ValueError(f"eta must be between 0 and 1, got {eta}")
    x = x_T
    for i, t, t_prev in step_pairs(ts):
        x0_hat, eps_hat = estimate(x, t)  # the model's estimates at t
        sigma = ddim_sigma(schedule, t, t_prev, eta)  # eq. 16
        ab_prev = float(schedule.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
        # eq. 12: predicted x0, direction pointing to x_t, random noise
        x = ab_prev**0.5 * x0_hat + max(1 - ab_prev - sigma**2, 0.0) ** 0.5 * eps_hat
        if sigma > 0:
            x = x + sigma * noise_like(x, generator)
        x = x / vp_factor(schedule, t_prev)
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


@torch.no_grad()
def euler_steps(estimate: Estimator, x_T: torch.Tensor, ts: list[int]) -> Iterator[Step]:
    """Euler on the probability-flow ODE dx~/dsigma = eps_hat (Karras et al. 2022, Algorithm 1
    without the second stage): x~' = x~ + (sigma' - sigma) eps_hat = x0_hat + sigma' eps_hat,
    written in x as a' x0_hat + s' eps_hat (finite even at zero SNR)."""
    schedule = estimate.schedule
    x = x_T
    for i, t, t_prev in step_pairs(ts):
        x0_hat, eps_hat = estimate(x, t)
        a_prev, s_prev = scales(schedule, t_prev)
        x = a_prev * x0_hat + s_prev * eps_hat
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


@torch.no_grad()
def heun_steps(estimate: Estimator, x_T: torch.Tensor, ts: list[int]) -> Iterator[Step]:
    """Heun's second-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 1):
    an Euler predictor to sigma', a second slope eps_hat' there, and
    x~' = x~ + (sigma' - sigma) (eps_hat + eps_hat') / 2. The step to the data (sigma' = 0) and a
    step from zero SNR (sigma = inf) stay Euler steps, so S steps cost 2 S - 1 model calls.
    Rectified flow is integrated in its own time instead, where the path is straight:
    x' = x + (t' - t) (u + u') / 2 with u = eps_hat - x0_hat (finite at t = 1)."""
    schedule = estimate.schedule
    x, nfe = x_T, 0
    for _, t, t_prev in step_pairs(ts):
        x0_hat, eps_hat = estimate(x, t)
        nfe += 1
        a, s = scales(schedule, t)
        a_prev, s_prev = scales(schedule, t_prev)
        x_euler = a_prev * x0_hat + s_prev * eps_hat
        if t_prev >= 0 and schedule.kind == "flow":
            x0_next, eps_next = estimate(x_euler, t_prev)
            nfe += 1
            x = x + (s_prev - s) * 0.5 * ((eps_hat - x0_hat) + (eps_next - x0_next))
        elif t_prev >= 0 and a > 0:
            _, eps_next = estimate(x_euler, t_prev)
            nfe += 1
            sigma, sigma_prev = s / a, s_prev / a_prev
            x = a_prev * (x / a + (sigma_prev - sigma) * 0.5 * (eps_hat + eps_next))
        else:
            x = x_euler
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=nfe)


def reverse_sde_update(schedule: NoiseSchedule, x: torch.Tensor, x0_hat: torch.Tensor, eps_hat: torch.Tensor,
                       t: int, t_prev: int, generator: torch.Generator) -> torch.Tensor:  # fmt: skip
    """One Euler-Maruyama step of the reverse-time SDE (Song et al. 2021b, eq. 6) in the VE coordinates,
    dx~ = -d(sigma^2) grad log p + sqrt(d(sigma^2)) dw with grad log p = -eps_hat / sigma:
    x~' = x~ - (sigma^2 - sigma'^2) / sigma eps_hat + sqrt(sigma^2 - sigma'^2) z
        = x0_hat + (sigma'^2 / sigma) eps_hat + sqrt(sigma^2 - sigma'^2) z
    (for VE exactly the reverse-diffusion predictor of SMLD). The step to the data returns x0_hat without
    noise (Song et al.'s final denoising step); a step from zero SNR (sigma = inf) is the limit of the
    exact posterior, x' ~ N(a' x0_hat, s'^2)."""
    a, s = scales(schedule, t)
    a_prev, s_prev = scales(schedule, t_prev)
    if t_prev < 0:
        return x0_hat
    if a == 0:
        return a_prev * x0_hat + s_prev * noise_like(x, generator)
    sigma, sigma_prev = s / a, s_prev / a_prev
    drift = x0_hat + (sigma_prev**2 / sigma) * eps_hat
    return a_prev * (drift + (sigma**2 - sigma_prev**2) ** 0.5 * noise_like(x, generator))


@torch.no_grad()
def euler_maruyama_steps(
    estimate: Estimator, x_T: torch.Tensor, ts: list[int], generator: torch.Generator
) -> Iterator[Step]:
    """Euler-Maruyama on the reverse-time SDE over the timesteps ts (see reverse_sde_update)."""
    x = x_T
    for i, t, t_prev in step_pairs(ts):
        x0_hat, eps_hat = estimate(x, t)
        x = reverse_sde_update(estimate.schedule, x, x0_hat, eps_hat, t, t_prev, generator)
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


@dataclass(frozen=True)
class Churn:
    """EDM's stochasticity (Karras et al. 2022, Algorithm 2): each step from a sigma in [s_tmin, s_tmax]
    first raises it by the factor 1 + gamma, gamma = min(s_churn / S, sqrt(2) - 1), with fresh noise
    scaled by s_noise. s_churn = 0 is Heun's deterministic sampler."""

    s_churn: float = 10.0
    s_tmin: float = 0.05
    s_tmax: float = 50.0
    s_noise: float = 1.003


def schedule_sigmas(schedule: NoiseSchedule) -> torch.Tensor:
    """sigma = s / a at every index (increasing with t; huge where a is 0)."""
    return schedule.sqrt_one_minus_alpha_bar / schedule.sqrt_alpha_bar.clamp_min(1e-30)


def _raised_index(sigmas: torch.Tensor, t: int, sigma_hat: float) -> int:
    """The first index at or above t whose sigma reaches sigma_hat (the network knows only the
    schedule's own noise levels, so the raised level is the nearest one at or above it)."""
    later = torch.nonzero(sigmas[t:] >= sigma_hat).flatten()
    return t + int(later[0]) if len(later) else len(sigmas) - 1


@torch.no_grad()
def edm_steps(
    estimate: Estimator, x_T: torch.Tensor, ts: list[int], generator: torch.Generator, churn: Churn = Churn()
) -> Iterator[Step]:
    """EDM's stochastic sampler, Karras et al. 2022, Algorithm 2, in x~ = x / a, sigma = s / a: where
    s_tmin <= sigma <= s_tmax, add noise to raise sigma to sigma^ = sigma (1 + gamma) (here: to the next
    schedule level at or above it, t^), x~^ = x~ + sqrt(sigma^2 - sigma^2) s_noise z, then one Heun step
    from (x~^, sigma^) to sigma'. Each step costs two model calls but the last (one: Euler to the
    data); a step from zero SNR is an Euler step without churn, as in heun_steps."""
    schedule = estimate.schedule
    gamma = min(churn.s_churn / max(len(ts), 1), math.sqrt(2) - 1)
    sigmas = schedule_sigmas(schedule)
    x, nfe = x_T, 0
    for _, t, t_prev in step_pairs(ts):
        a, s = scales(schedule, t)
        a_prev, s_prev = scales(schedule, t_prev)
        if a == 0:
            x0_hat, eps_hat = estimate(x, t)
            nfe += 1
            x = a_prev * x0_hat + s_prev * eps_hat
            yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=nfe)
            continue
        sigma, sigma_prev, x_tilde = s / a, s_prev / a_prev, x / a
        t_hat = t
        if gamma > 0 and churn.s_tmin <= sigma <= churn.s_tmax:
            t_hat = _raised_index(sigmas, t, sigma * (1 + gamma))
        a_hat, s_hat = scales(schedule, t_hat)
        sigma_hat = s_hat / a_hat
        if t_hat != t:
            x_tilde = x_tilde + (sigma_hat**2 - sigma**2) ** 0.5 * churn.s_noise * noise_like(x, generator)
        x0_hat, eps_hat = estimate(a_hat * x_tilde, t_hat)
        nfe += 1
        x_next = x_tilde + (sigma_prev - sigma_hat) * eps_hat
        if t_prev >= 0:
            _, eps_next = estimate(a_prev * x_next, t_prev)
            nfe += 1
            x_next = x_tilde + (sigma_prev - sigma_hat) * 0.5 * (eps_hat + eps_next)
        x = a_prev * x_next
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=nfe)


def last(steps: Iterator[StepT]) -> StepT:
    """Run a sampler (Gaussian or discrete) to the end and keep its final step."""
    final = None
    for step in steps:
        final = step
    if final is None:
        raise ValueError("the sampler produced no steps")
    return final
