"""Exact log-likelihood through the probability-flow ODE (Song et al. 2021, sec. 4.3 and app. D.2).

In the coordinates x~ = x / a, sigma = s / a (x_t = a x0 + s eps; see sampling.gaussian) the
probability-flow ODE is dx~/dsigma = eps_hat(a x~, t), and the instantaneous change of variables
(Chen et al. 2018) gives
    log p_0(x0) = log p_end(x~_end) + integral_0^sigma_end div_x~ eps_hat dsigma.
It is integrated from the data (sigma = 0) to the last index with a > 0: a Heun step onto the
grid's first index, whose drift at sigma = 0 is 0 (eps_hat = -sigma grad log p; the model is
defined from index 0 on), then Heun steps between grid indices (uniform in log-SNR), each
evaluating the drift and its divergence twice, at the step's start and at Heun's predictor.
x~ moves by Heun's rule in sigma, and the divergence is integrated by the trapezoid rule in
log sigma over the same two points: as sigma grows, x~ becomes linear in sigma and the
divergence D / sigma, so both rules turn exact there, where a schedule's sigma can leap
(cosine's clipped last beta: 6e2 to 2e4 in one index; the trapezoid in sigma overstates that
step's integral of D / sigma by tens of nats).

p_end is the prior at t = T: N(0, I) in x (N(0, (1 + sigma_end^2) I) in x~) for a variance-preserving
model, N(0, sigma_max^2 I) for VE; for a zero-terminal-SNR process or rectified flow (a = 0 at t = T)
it is N(0, (a^2 + s^2) I) in x one index before the end.

The divergence is exact (one backward pass per dimension: points) or Hutchinson's unbiased
estimate v^T (d eps_hat / d x~) v with Rademacher probes v (images), one set of probes per item
held for the whole path (Grathwohl et al. 2019).
Time convention: `t` is the 0-based schedule index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from explorer.core import draws
from explorer.core.schedules import NoiseSchedule
from explorer.limits import MAX_T, check_int
from explorer.sampling.gaussian import Estimator, scales
from explorer.sampling.spacings import timesteps

DIVERGENCES = ("exact", "hutchinson")
MAX_PROBES = 16


@dataclass(frozen=True)
class OdeLogLikelihood:
    """log p_0 of each item (nats, continuous density), and how it was integrated."""

    log_p: torch.Tensor  # (n,) float64 on the CPU
    nfe: int
    steps: int
    divergence: str
    probes: int
    sigma_end: float


def ode_grid(schedule: NoiseSchedule, steps: int) -> list[int]:
    """`steps` ascending indices spaced uniformly in log-SNR, ending at the last one with a > 0."""
    last = schedule.T - 1 if float(schedule.sqrt_alpha_bar[-1]) > 0 else schedule.T - 2
    steps = check_int("ODE steps", steps, 2, MAX_T)
    grid = sorted(t for t in timesteps(schedule.T, min(steps, schedule.T), "logsnr", schedule) if t <= last)
    return grid if grid[-1] == last else [*grid, last]


def rademacher(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return draws.randint(2, shape, generator, device).float() * 2 - 1


def drift_and_divergence(estimate: Estimator, x_tilde: torch.Tensor, t: int, probes: torch.Tensor | None
                         ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """eps_hat at (a x~, t) and its divergence in x~ per item: exact when probes is None, else the
    mean of v^T J v over the probes (P, B, ...)."""
    a, _ = scales(estimate.schedule, t)
    with torch.enable_grad():
        x = x_tilde.detach().requires_grad_(True)
        _, eps = estimate(a * x, t)
        flat = eps.reshape(eps.shape[0], -1)
        if probes is None:
            rows = []
            for i in range(flat.shape[1]):
                (grad,) = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=i + 1 < flat.shape[1])
                rows.append(grad.reshape(grad.shape[0], -1)[:, i])
            div = torch.stack(rows, 1).sum(1)
        else:
            div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            for j, v in enumerate(probes):
                (vjp,) = torch.autograd.grad((eps * v).sum(), x, retain_graph=j + 1 < len(probes))
                div += (vjp * v).reshape(v.shape[0], -1).sum(1)
            div /= len(probes)
    return eps.detach(), div.detach()


def ode_log_likelihood(
    estimate: Estimator, x0: torch.Tensor, steps: int, generator: torch.Generator,
    divergence: str = "exact", probes: int = 1,
) -> OdeLogLikelihood:  # fmt: skip
    """log p_0(x0) in nats per item under the model's probability-flow ODE (see the module text).
    The estimator must not clip x0_hat: the ODE is the model's own."""
    if divergence not in DIVERGENCES:
        raise ValueError(f"unknown divergence {divergence!r}; choose from {list(DIVERGENCES)}")
    probes = check_int("Hutchinson probes", probes, 1, MAX_PROBES)
    schedule = estimate.schedule
    vs = None
    if divergence == "hutchinson":
        vs = rademacher((probes, *x0.shape), generator, x0.device).to(x0.dtype)
    sigma = lambda t: scales(schedule, t)[1] / scales(schedule, t)[0]  # noqa: E731
    grid = ode_grid(schedule, steps)
    x = x0.clone()
    # from the data onto the grid: the drift eps_hat = -sigma grad log p_sigma vanishes at sigma = 0, so
    # Heun's step there needs one model call, at the far end (the predictor stays at x0)
    eps, div = drift_and_divergence(estimate, x, grid[0], vs)
    x, integral = x + sigma(grid[0]) / 2 * eps, sigma(grid[0]) / 2 * div.double()
    nfe = 1
    for t, t_next in zip(grid, grid[1:], strict=False):
        s1, s2 = sigma(t), sigma(t_next)
        eps1, div1 = drift_and_divergence(estimate, x, t, vs)
        eps2, div2 = drift_and_divergence(estimate, x + (s2 - s1) * eps1, t_next, vs)
        x = x + (s2 - s1) / 2 * (eps1 + eps2)  # Heun in sigma
        integral += math.log(s2 / s1) / 2 * (s1 * div1 + s2 * div2).double()  # the trapezoid rule in log sigma
        nfe += 2
    a_end, s_end = scales(schedule, grid[-1])  # at T the prior; an index before it, N(0, a^2 + s^2) in x
    var_end = (schedule.prior_std**2 if grid[-1] == schedule.T - 1 else a_end**2 + s_end**2) / a_end**2
    dims = x0[0].numel()
    flat = x.reshape(x.shape[0], -1).double()
    log_prior = -0.5 * (flat**2).sum(1) / var_end - 0.5 * dims * math.log(2 * math.pi * var_end)
    return OdeLogLikelihood((log_prior + integral).cpu(), nfe, len(grid), divergence, probes, sigma(grid[-1]))
