"""Samplers as generators of typed steps (the final sample is the last step's x).

Time convention: `t` is the 0-based schedule index; a step from index t produces the
state at index t - 1 (the data when t = 0). Every random draw takes the generator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

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


def last(steps: Iterator[Step]) -> Step:
    """Run a sampler to the end and keep its final step."""
    final = None
    for step in steps:
        final = step
    if final is None:
        raise ValueError("the sampler produced no steps")
    return final
