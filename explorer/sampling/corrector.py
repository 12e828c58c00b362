"""Predictor-corrector sampling (Song et al. 2021b, sec. 4.2 and Algorithms 2-3).

Each step is the reverse-SDE predictor (Euler-Maruyama in sigma, which for VE is SMLD's reverse
diffusion; sampling.gaussian.reverse_sde_update), then M steps of Langevin MCMC at the new noise
level that correct the marginal towards q(x_t'):
    x~ <- x~ + e g + sqrt(2 e) z,   g = grad log q(x~) = -eps_hat / sigma,   e = 2 (r |z| / |g|)^2,
with the signal-to-noise ratio r fixing the step size from the batch's mean norms (Song et al.'s
rule; r = 0.16 for VE on CIFAR-10). The chain runs in x~ = x / a, where the process is VE for every
schedule, and maps back; there is no corrector after the step to the data. NFE = S + M (S - 1).
Time convention: `t` is the 0-based schedule index; -1 is the data.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from explorer.core.schedules import scales
from explorer.sampling.gaussian import Estimator, Step, noise_like, reverse_sde_update
from explorer.sampling.spacings import step_pairs

DEFAULT_SNR = 0.16  # Song et al. 2021b's r for VE (CIFAR-10)
MAX_CORRECTOR_STEPS = 5


def _mean_norm(v: torch.Tensor) -> torch.Tensor:
    return v.reshape(v.shape[0], -1).norm(dim=1).mean()


def langevin_correct(
    estimate: Estimator, x: torch.Tensor, t: int, generator: torch.Generator, snr: float, steps: int
) -> torch.Tensor:
    """`steps` Langevin updates of x (at index t, in the process's own coordinates) towards q(x_t)."""
    a, s = scales(estimate.schedule, t)
    sigma, x_tilde = s / a, x / a
    for _ in range(steps):
        _, eps_hat = estimate(a * x_tilde, t)
        grad = -eps_hat / sigma
        z = noise_like(x_tilde, generator)
        step = 2 * (snr * _mean_norm(z) / _mean_norm(grad).clamp_min(1e-30)) ** 2
        x_tilde = x_tilde + step * grad + (2 * step) ** 0.5 * z
    return a * x_tilde


@torch.no_grad()
def predictor_corrector_steps(
    estimate: Estimator, x_T: torch.Tensor, ts: list[int], generator: torch.Generator,
    snr: float = DEFAULT_SNR, corrector_steps: int = 1,
) -> Iterator[Step]:  # fmt: skip
    """PC sampling over the descending timesteps ts: a reverse-SDE predictor step, then
    `corrector_steps` Langevin steps at the level reached (none at the data)."""
    x, nfe = x_T, 0
    for _, t, t_prev in step_pairs(ts):
        x0_hat, eps_hat = estimate(x, t)
        nfe += 1
        x = reverse_sde_update(estimate.schedule, x, x0_hat, eps_hat, t, t_prev, generator)
        if t_prev >= 0 and corrector_steps:
            x = langevin_correct(estimate, x, t_prev, generator, snr, corrector_steps)
            nfe += corrector_steps
        yield Step(t=t, t_prev=t_prev, x=x, x0_hat=x0_hat, nfe=nfe)
