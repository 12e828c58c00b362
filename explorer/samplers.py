"""Samplers as generators of typed steps (the final sample is the last step's x).

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
from dataclasses import dataclass, replace

import numpy as np
import torch

from explorer.gaussian import eps_from_v, eps_from_x0, x0_from_eps, x0_from_v
from explorer.limits import check_float, check_int
from explorer.schedules import NoiseSchedule, extract

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) -> model output
DDPM_VARIANCES = ("beta", "beta_tilde")
KARRAS_RHO = 7.0  # Karras et al. 2022, eq. 5
MAX_CLIP = 1000.0  # largest x0_hat clipping bound


@dataclass(frozen=True)
class Step:
    """One sampler iteration: from index t to t_prev (-1 is the data), with the model's
    estimate x0_hat made at t and the state x reached at t_prev; nfe counts model calls so far."""

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
        if isinstance(t, int) and float(schedule.alpha_bar[t]) == 0.0:
            raise ValueError(
                "this schedule has zero terminal SNR: at its last step x_T is pure noise, so an eps-prediction "
                "model cannot recover x0 there (x0 = (x_T - eps) / 0). Use a v- or x0-prediction model, or a "
                "spacing that does not start at the last step (leading)."
            )
        return x0_from_eps(schedule, xt, t, output), output
    if prediction == "x0":
        return output, eps_from_x0(schedule, xt, t, output)
    if prediction == "v":
        return x0_from_v(schedule, xt, t, output), eps_from_v(schedule, xt, t, output)
    if prediction == "flow":  # u = eps - x0 on x_t = a x0 + s eps with a + s = 1: x0 = x_t - s u, eps = x_t + a u
        if schedule.kind != "flow":
            raise ValueError("a velocity ('flow') model needs the rectified-flow process")
        return xt - extract(schedule.sqrt_one_minus_alpha_bar, t, xt) * output, xt + extract(
            schedule.sqrt_alpha_bar, t, xt) * output  # fmt: skip
    raise ValueError(f"unknown prediction {prediction!r}; choose from ['eps', 'flow', 'v', 'x0']")


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


def scales(schedule: NoiseSchedule, t: int) -> tuple[float, float]:
    """(a, s) with x_t = a x0 + s eps: (sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) for a
    variance-preserving schedule, (1 - t, t) for rectified flow; (1, 0) at the data, t = -1."""
    if t < 0:
        return 1.0, 0.0
    return float(schedule.sqrt_alpha_bar[t]), float(schedule.sqrt_one_minus_alpha_bar[t])


def _noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


# ---------------------------------------------------------------- timestep spacings

SPACINGS = ("leading", "trailing", "linspace", "quadratic", "karras", "logsnr")


def _nearest_index(table: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For a table increasing along the index, the nearest (interpolated, rounded) index of each target."""
    return np.interp(targets, table, np.arange(len(table))).round()


def timesteps(T: int, S: int, spacing: str, schedule: NoiseSchedule | None = None) -> list[int]:
    """The S distinct timesteps (0-based, descending) a sampler visits, by spacing:
    leading: 0, T//S, 2 T//S, ... (DDIM's 'uniform'); trailing: T-1, T-1-T/S, ... (ends at
    T - 1, as Lin et al. 2024 advise); linspace: round(linspace(0, T - 1, S));
    quadratic: floor(linspace(0, sqrt(0.8 T), S)^2) (Song et al. 2021, appendix D.2);
    karras: sigma_i = (sigma_max^(1/rho) + i/(S-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
    rho = 7 (Karras et al. 2022, eq. 5); logsnr: uniform in lambda = log(a/s) (Lu et al. 2022).
    The last two need the schedule and land on the nearest integer timestep, from T - 1 to 0.
    Repeats (the quadratic's floor near 0, rounding) are moved apart: a repeated timestep
    would be a wasted model call."""
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
    elif spacing == "quadratic":
        seq = np.floor(np.linspace(0, np.sqrt(0.8 * T), S) ** 2)
    else:
        if schedule is None or schedule.T != T:
            raise ValueError(f"the {spacing} spacing needs the model's schedule")
        ab = schedule.alpha_bar.numpy()
        ab = ab.clip(ab[ab > 0].min() / 10, None)  # a zero-terminal-SNR step, placed just past its neighbour
        sigma = np.sqrt((1 - ab) / ab)  # increasing with t
        if spacing == "karras":
            ramp = np.linspace(0, 1, S)
            hi, lo = sigma[-1] ** (1 / KARRAS_RHO), sigma[0] ** (1 / KARRAS_RHO)
            seq = _nearest_index(np.log(sigma), np.log((hi + ramp * (lo - hi)) ** KARRAS_RHO))
        else:  # -lambda = log sigma is increasing with t
            seq = _nearest_index(np.log(sigma), np.linspace(np.log(sigma[-1]), np.log(sigma[0]), S))
    ascending = [int(t) for t in sorted(seq)]
    for i in range(1, S):  # strictly increasing, moving repeats up ...
        ascending[i] = max(ascending[i], ascending[i - 1] + 1)
    ascending[-1] = min(ascending[-1], T - 1)
    for i in range(S - 2, -1, -1):  # ... and, where that overflowed T - 1, down again
        ascending[i] = min(ascending[i], ascending[i + 1] - 1)
    return ascending[::-1]


def _pairs(seq: list[int]) -> Iterator[tuple[int, int, int]]:
    """(i, t, t_prev) along a descending timestep sequence, ending at the data (-1)."""
    for i, t in enumerate(seq):
        yield i, t, seq[i + 1] if i + 1 < len(seq) else -1


# ---------------------------------------------------------------- DDPM and DDIM


@torch.no_grad()
def ddpm_steps(
    model: Denoiser,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    generator: torch.Generator,
    prediction: str = "eps",
    variance: str = "beta_tilde",
    clip_x0: float | None = None,
    steps: int | None = None,
    spacing: str = "leading",
) -> Iterator[Step]:
    """Ancestral sampling, Ho et al. 2020 Algorithm 2: x_{t-1} = mu~_t(x_t, x0_hat) + sigma_t z,
    with sigma_t^2 = beta_t or beta~_t and no noise at the last step. x0_hat may be clipped
    to [-clip_x0, clip_x0] before the posterior mean is formed. With steps S < T the chain is
    respaced (Nichol & Dhariwal 2021, sec. 4): over a jump t -> t', beta' = 1 - ab_t / ab_t',
    and beta~' follows eq. 7 with it (so beta_tilde is DDIM's eta = 1); with S = T, beta' = beta_t."""
    if variance not in DDPM_VARIANCES:
        raise ValueError(f"unknown DDPM variance {variance!r}; choose from {list(DDPM_VARIANCES)}")
    x = x_T
    for i, t, t_prev in _pairs(timesteps(schedule.T, steps or schedule.T, spacing, schedule)):
        x0_hat, _ = model_estimates(model, schedule, x, t, prediction, clip_x0)
        ab, ab_prev = float(schedule.alpha_bar[t]), float(schedule.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
        beta = 1.0 - ab / ab_prev
        # posterior mean of q(x_t' | x_t, x0) for the respaced chain (Ho et al. eq. 7)
        x = (ab_prev**0.5 * beta / (1 - ab)) * x0_hat + ((1 - beta) ** 0.5 * (1 - ab_prev) / (1 - ab)) * x
        if t_prev >= 0:
            var = beta if variance == "beta" else beta * (1 - ab_prev) / (1 - ab)
            x = x + var**0.5 * _noise(x, generator)
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


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
    x = x_T
    for i, t, t_prev in _pairs(timesteps(schedule.T, steps, spacing, schedule)):
        x0_hat, eps_hat = model_estimates(model, schedule, x, t, prediction, clip_x0)  # the model's estimates at t
        sigma = ddim_sigma(schedule, t, t_prev, eta)  # eq. 16
        ab_prev = float(schedule.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
        # eq. 12: predicted x0, direction pointing to x_t, random noise
        x = ab_prev**0.5 * x0_hat + max(1 - ab_prev - sigma**2, 0.0) ** 0.5 * eps_hat
        if sigma > 0:
            x = x + sigma * _noise(x, generator)
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


# ---------------------------------------------------------------- probability-flow ODE and reverse SDE


@torch.no_grad()
def euler_steps(
    model: Denoiser, schedule: NoiseSchedule, x_T: torch.Tensor, prediction: str = "eps", steps: int = 50,
    spacing: str = "karras", clip_x0: float | None = None,
) -> Iterator[Step]:  # fmt: skip
    """Euler on the probability-flow ODE dx~/dsigma = eps_hat (Karras et al. 2022, Algorithm 1
    without the second stage): x~' = x~ + (sigma' - sigma) eps_hat = x0_hat + sigma' eps_hat,
    written in x as a' x0_hat + s' eps_hat (finite even at zero SNR)."""
    x = x_T
    for i, t, t_prev in _pairs(timesteps(schedule.T, steps, spacing, schedule)):
        x0_hat, eps_hat = model_estimates(model, schedule, x, t, prediction, clip_x0)
        a_prev, s_prev = scales(schedule, t_prev)
        x = a_prev * x0_hat + s_prev * eps_hat
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


@torch.no_grad()
def heun_steps(
    model: Denoiser, schedule: NoiseSchedule, x_T: torch.Tensor, prediction: str = "eps", steps: int = 50,
    spacing: str = "karras", clip_x0: float | None = None,
) -> Iterator[Step]:  # fmt: skip
    """Heun's second-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 1):
    an Euler predictor to sigma', a second slope eps_hat' there, and
    x~' = x~ + (sigma' - sigma) (eps_hat + eps_hat') / 2. The step to the data (sigma' = 0) and a
    step from zero SNR (sigma = inf) stay Euler steps, so S steps cost 2 S - 1 model calls.
    Rectified flow is integrated in its own time instead, where the path is straight:
    x' = x + (t' - t) (u + u') / 2 with u = eps_hat - x0_hat (finite at t = 1)."""
    x, nfe = x_T, 0
    for _, t, t_prev in _pairs(timesteps(schedule.T, steps, spacing, schedule)):
        x0_hat, eps_hat = model_estimates(model, schedule, x, t, prediction, clip_x0)
        nfe += 1
        a, s = scales(schedule, t)
        a_prev, s_prev = scales(schedule, t_prev)
        x_euler = a_prev * x0_hat + s_prev * eps_hat
        if t_prev >= 0 and schedule.kind == "flow":
            x0_next, eps_next = model_estimates(model, schedule, x_euler, t_prev, prediction, clip_x0)
            nfe += 1
            x = x + (s_prev - s) * 0.5 * ((eps_hat - x0_hat) + (eps_next - x0_next))
        elif t_prev >= 0 and a > 0:
            _, eps_next = model_estimates(model, schedule, x_euler, t_prev, prediction, clip_x0)
            nfe += 1
            sigma, sigma_prev = s / a, s_prev / a_prev
            x = a_prev * (x / a + (sigma_prev - sigma) * 0.5 * (eps_hat + eps_next))
        else:
            x = x_euler
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=nfe)


@torch.no_grad()
def euler_maruyama_steps(
    model: Denoiser, schedule: NoiseSchedule, x_T: torch.Tensor, generator: torch.Generator,
    prediction: str = "eps", steps: int = 50, spacing: str = "karras", clip_x0: float | None = None,
) -> Iterator[Step]:  # fmt: skip
    """Euler-Maruyama on the reverse-time SDE (Song et al. 2021b, eq. 6) in the VE coordinates,
    dx~ = -d(sigma^2) grad log p + sqrt(d(sigma^2)) dw with grad log p = -eps_hat / sigma:
    x~' = x~ - (sigma^2 - sigma'^2) / sigma eps_hat + sqrt(sigma^2 - sigma'^2) z
        = x0_hat + (sigma'^2 / sigma) eps_hat + sqrt(sigma^2 - sigma'^2) z.
    The last step returns x0_hat without noise (Song et al.'s final denoising step); a step
    from zero SNR (sigma = inf) is the limit of the exact posterior, x' ~ N(a' x0_hat, s'^2)."""
    x = x_T
    for i, t, t_prev in _pairs(timesteps(schedule.T, steps, spacing, schedule)):
        x0_hat, eps_hat = model_estimates(model, schedule, x, t, prediction, clip_x0)
        a, s = scales(schedule, t)
        a_prev, s_prev = scales(schedule, t_prev)
        if t_prev < 0:
            x = x0_hat
        elif a == 0:
            x = a_prev * x0_hat + s_prev * _noise(x, generator)
        else:
            sigma, sigma_prev = s / a, s_prev / a_prev
            drift = x0_hat + (sigma_prev**2 / sigma) * eps_hat
            x = a_prev * (drift + (sigma**2 - sigma_prev**2) ** 0.5 * _noise(x, generator))
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


@torch.no_grad()
def dpm_solver_pp_2m_steps(
    model: Denoiser, schedule: NoiseSchedule, x_T: torch.Tensor, prediction: str = "eps", steps: int = 20,
    spacing: str = "logsnr", clip_x0: float | None = None,
) -> Iterator[Step]:  # fmt: skip
    """DPM-Solver++(2M), Lu et al. 2022b, Algorithm 2, with lambda = log(a / s) and h = lambda' - lambda:
    x' = (s' / s) x - a' (e^{-h} - 1) D, where D = x0_hat on the first step (then it is DDIM) and
    D = (1 + 1/(2r)) x0_hat - 1/(2r) x0_hat_prev with r = h_prev / h after it. The step to the data
    (h = inf) is first order (x' = x0_hat), as is the step after one from zero SNR (h_prev = inf).
    a' (1 - e^{-h}) is written as a' - a s' / s, finite at zero SNR."""
    x = x_T
    previous: tuple[torch.Tensor, float] | None = None  # (x0_hat, h) of the step before
    for i, t, t_prev in _pairs(timesteps(schedule.T, steps or schedule.T, spacing, schedule)):
        x0_hat, _ = model_estimates(model, schedule, x, t, prediction, clip_x0)
        a, s = scales(schedule, t)
        a_prev, s_prev = scales(schedule, t_prev)
        if t_prev < 0:
            x, h = x0_hat, math.inf
        else:
            h = math.log(a_prev / s_prev) - (math.log(a / s) if a > 0 else -math.inf)
            d = x0_hat
            if previous is not None and math.isfinite(previous[1]) and math.isfinite(h):
                half_inv_r = h / (2 * previous[1])  # 1 / (2 r), r = h_prev / h
                d = (1 + half_inv_r) * x0_hat - half_inv_r * previous[0]
            x = (s_prev / s) * x + (a_prev - a * s_prev / s) * d
        previous = (x0_hat, h)
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=i + 1)


def last(steps: Iterator[Step]) -> Step:
    """Run a sampler to the end and keep its final step."""
    final = None
    for step in steps:
        final = step
    if final is None:
        raise ValueError("the sampler produced no steps")
    return final


# ---------------------------------------------------------------- the registry

SAMPLERS = ("ddpm", "ddim", "euler", "heun", "em", "dpmpp2m")
SAMPLER_LABELS = {
    "ddpm": "DDPM (ancestral)",
    "ddim": "DDIM",
    "euler": "Euler (PF-ODE)",
    "heun": "Heun (PF-ODE, 2nd order)",
    "em": "Euler-Maruyama (reverse SDE)",
    "dpmpp2m": "DPM-Solver++(2M)",
}
SAMPLER_SHORT = {"ddpm": "DDPM", "ddim": "DDIM", "euler": "Euler", "heun": "Heun", "em": "EM", "dpmpp2m": "DPM++2M"}
DEFAULT_SPACING = {"ddpm": "leading", "ddim": "trailing", "euler": "karras", "heun": "karras", "em": "karras",
                   "dpmpp2m": "logsnr"}  # fmt: skip
STOCHASTIC = ("ddpm", "em")  # and ddim with eta > 0
VP_ONLY = ("ddpm", "ddim")  # their updates use alpha_bar directly


@dataclass(frozen=True)
class SamplerSettings:
    """A sampler by name and its options (each sampler reads the ones it uses)."""

    name: str = "ddpm"
    steps: int | None = None  # S, the number of timesteps visited; None: all T
    eta: float = 0.0  # DDIM: 0 deterministic, 1 DDPM-like
    spacing: str = "leading"  # which S timesteps
    variance: str = "beta_tilde"  # DDPM: sigma_t^2
    clip_x0: float | None = None

    def validated(self, T: int) -> SamplerSettings:
        """These settings with every option checked against its bounds (ValueError says which)."""
        if self.name not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.name!r}; choose from {list(SAMPLERS)}")
        if self.spacing not in SPACINGS:
            raise ValueError(f"unknown spacing {self.spacing!r}; choose from {sorted(SPACINGS)}")
        if self.variance not in DDPM_VARIANCES:
            raise ValueError(f"unknown DDPM variance {self.variance!r}; choose from {list(DDPM_VARIANCES)}")
        return replace(
            self,
            steps=None if self.steps is None else check_int("steps", self.steps, 1, T),
            eta=check_float("eta", self.eta, 0.0, 1.0),
            clip_x0=None if self.clip_x0 is None else check_float("x0 clipping bound", self.clip_x0, 1e-3, MAX_CLIP),
        )

    def resolved_steps(self, T: int) -> int:
        return T if self.steps is None else self.steps

    def nfe(self, T: int) -> int:
        """Model evaluations a run costs (Heun: two per step but the last)."""
        S = self.resolved_steps(T)
        return 2 * S - 1 if self.name == "heun" else S

    def caption(self) -> str:
        """A compact name for panel captions, e.g. 'DPM++2M 15 logsnr'."""
        steps = "T" if self.steps is None else self.steps
        text = f"{SAMPLER_SHORT.get(self.name, self.name)} {steps} {self.spacing}"
        return text + (f" eta={self.eta:g}" if self.name == "ddim" else "")

    def label(self) -> str:
        """A short human name, e.g. 'DDIM S=50 trailing eta=0'."""
        name = SAMPLER_LABELS.get(self.name, self.name).split(" (")[0]
        text = f"{name} S={self.steps if self.steps is not None else 'T'} {self.spacing}"
        if self.name == "ddim":
            text += f" eta={self.eta:g}"
        return text


def reference_sampler(schedule: NoiseSchedule, variance: str = "beta_tilde") -> SamplerSettings:
    """The sampler a model's own T steps define: DDPM ancestral sampling, or Euler for rectified flow."""
    if schedule.kind == "flow":
        return SamplerSettings("euler", schedule.T, spacing="leading")
    return SamplerSettings("ddpm", variance=variance)


def sample_steps(
    settings: SamplerSettings,
    model: Denoiser,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    generator: torch.Generator,
    prediction: str = "eps",
) -> Iterator[Step]:
    """The named sampler's steps from x_T (the settings are checked first)."""
    settings = settings.validated(schedule.T)
    if schedule.kind == "flow" and settings.name in VP_ONLY:
        raise ValueError(f"{SAMPLER_LABELS[settings.name]} is written for the variance-preserving process; sample "
                         "a rectified-flow model with euler (which is what DDIM with eta = 0 becomes), heun, em "
                         "or dpmpp2m")  # fmt: skip
    S = settings.resolved_steps(schedule.T)
    common = {"prediction": prediction, "steps": S, "spacing": settings.spacing, "clip_x0": settings.clip_x0}
    if settings.name == "ddpm":
        return ddpm_steps(model, schedule, x_T, generator, variance=settings.variance, **common)
    if settings.name == "ddim":
        return ddim_steps(model, schedule, x_T, generator, eta=settings.eta, **common)
    if settings.name == "euler":
        return euler_steps(model, schedule, x_T, **common)
    if settings.name == "heun":
        return heun_steps(model, schedule, x_T, **common)
    if settings.name == "em":
        return euler_maruyama_steps(model, schedule, x_T, generator, **common)
    if settings.name == "dpmpp2m":
        return dpm_solver_pp_2m_steps(model, schedule, x_T, **common)
    raise ValueError(f"unknown sampler {settings.name!r}; choose from {list(SAMPLERS)}")
