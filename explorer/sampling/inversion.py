"""DDIM inversion, reconstruction and interpolation (Song et al. 2021, sec. 5.4).

A deterministic sampler is an invertible map between data and noise. Encoding runs the
eta = 0 update forwards, x_0 -> x_T, over the same S timesteps that decoding visits
backwards; the round trip x_0 -> x_T -> x_0 is exact only in the limit of small steps,
and its error measures the discretisation (Table 2). Heun's second-order method (Karras et
al. 2022) inverts the same way: its trapezoid run forwards, its decoder run backwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from explorer.core.schedules import NoiseSchedule
from explorer.sampling.gaussian import Denoiser, Estimator, Step, euler_steps, heun_steps, last, scales
from explorer.sampling.spacings import timesteps

INVERT_SPACING = "linspace"  # visits both index 0 (nearest the data) and T - 1 (nearest pure noise)


ERROR_STEPS = (5, 10, 20, 50, 100, 200)


MAX_MORPH_FRAMES = 64


MAX_REFINE = 20  # fixed-point iterations per inverse step
REFINE_ITERATIONS = 4  # the Latent tab's refined inversion; at S = 50 (Anderson, 64 training digits):
# digits-unet 6.0e-4 -> 2.2e-5 with 3, 1.7e-6 with 4; digits-flow 7.9e-8 / 3.7e-8 (plain fixed-point
# iteration on the earlier digits-unet stalled at 1.7e-5 by 10)
REFINE_CURVES = (1, REFINE_ITERATIONS)  # the iterations whose round-trip error against S the tab draws


ANDERSON_MEMORY = 3  # past residuals an Anderson step combines


def heun_decode_steps(estimate: Estimator, x_T: torch.Tensor, ts: list[int]) -> Iterator[Step]:
    """Heun's method from x_T with its first step, from t = T, an Euler step: there sigma falls by orders
    of magnitude (20,000 -> 32 on the cosine schedule, 157 -> 14 on the linear one, at S = 50), and the
    trapezoid's error grows with the jump where Euler's stays bounded (x0_hat + sigma' eps_hat), as
    heun_steps itself does from zero SNR. Its inverse runs the same rule forwards."""
    first = next(iter(euler_steps(estimate, x_T, ts[:2])))
    yield first
    if len(ts) > 1:
        for step in heun_steps(estimate, first.x, ts[1:]):
            yield replace(step, nfe=step.nfe + 1)


DECODERS = {"ddim": euler_steps, "heun": heun_decode_steps}  # the ODE solvers an inversion can mirror


def check_solver(solver: str) -> str:
    if solver not in DECODERS:
        raise ValueError(f"unknown inversion solver {solver!r}; choose from {list(DECODERS)}")
    return solver


def anderson(
    g: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, iterations: int, memory: int = ANDERSON_MEMORY
) -> torch.Tensor:
    """The fixed point x = g(x) of each item of a batch by Anderson acceleration (type II, Walker &
    Ni 2011), as AIDI solves its inverse steps (Pan et al. 2023): x_(k+1) = g(x_k) - dG gamma with gamma
    minimising |f_k - dF gamma|, f = g(x) - x, dF and dG the differences of the last `memory`
    residuals and images. Plain iteration (memory 0) converges as |g'|^k and stalls where the inverse
    step is barely contractive (next to the data and at the top noise levels); one g call an iteration.
    Each item keeps the image of its smallest residual so far: once the residuals reach float32 round-off
    the secant system is noise, and an extra iteration must not undo the converged ones (it did: spiral-mlp
    at S = 50, 9e-7 after 3 iterations and 6e-3 after 4, before this guard)."""
    flat = lambda v: v.reshape(len(v), -1)  # noqa: E731
    gx = g(x)
    images, residuals = [flat(gx)], [flat(gx - x)]
    best, best_norm = gx, residuals[0].norm(dim=1)
    for _ in range(iterations - 1):
        x_new = gx
        if memory and len(residuals) > 1:
            dF = torch.stack([b - a for a, b in zip(residuals, residuals[1:], strict=False)], -1)  # (B, D, m)
            dG = torch.stack([b - a for a, b in zip(images, images[1:], strict=False)], -1)
            dF64 = dF.double()  # the small normal equations in float64, ridge-regularised (converged: gamma = 0)
            gram = dF64.transpose(1, 2) @ dF64
            ridge = 1e-10 * gram.diagonal(dim1=1, dim2=2).sum(-1)[:, None, None] + 1e-200
            eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
            gamma = torch.linalg.solve(gram + ridge * eye, dF64.transpose(1, 2) @ residuals[-1].double().unsqueeze(-1))
            x_new = (images[-1].unsqueeze(-1) - dG @ gamma.to(dG.dtype)).squeeze(-1).view_as(x)
        x, gx = x_new, g(x_new)
        images, residuals = (images + [flat(gx)])[-memory - 1 :], (residuals + [flat(gx - x_new)])[-memory - 1 :]
        norm = residuals[-1].norm(dim=1)
        better = (norm < best_norm).view(-1, *[1] * (x.ndim - 1))
        best, best_norm = torch.where(better, gx, best), torch.minimum(norm, best_norm)
    return best


def _inverse_step(
    decoder: Estimator, x: torch.Tensor, t_next: int, ratio: torch.Tensor, step_back: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map whose fixed point is the x_{t'} that decodes to x: z -> (a'/a) x + step_back eps_hat(z, t')."""
    return lambda z: ratio * x + step_back * decoder(z, t_next)[1]


def _heun_forward(estimate: Estimator, x: torch.Tensor, x_euler: torch.Tensor, t: int, t_next: int) -> torch.Tensor:
    """Heun's trapezoid from index t up to t_next, heun_steps run forwards: the slopes at x (index t) and
    at the Euler predictor x_euler (index t_next); rectified flow in its own time, x' = x + (t' - t) (u + u') / 2."""
    schedule = estimate.schedule
    (a, s), (a_next, s_next) = scales(schedule, t), scales(schedule, t_next)
    x0_hat, eps_hat = estimate(x, t)
    x0_next, eps_next = estimate(x_euler, t_next)
    if schedule.kind == "flow":
        return x + (s_next - s) * 0.5 * ((eps_hat - x0_hat) + (eps_next - x0_next))
    if a_next <= 0:  # zero SNR at the top: the Euler step is the only finite one
        return x_euler
    return a_next * (x / a + (s_next / a_next - s / a) * 0.5 * (eps_hat + eps_next))


def _exact_step(decoder: Estimator, x: torch.Tensor, guess: torch.Tensor, t_cur: int, t_next: int,
                refine: int) -> torch.Tensor:  # fmt: skip
    """The state at t_next that DDIM's decoding step takes to x at t_cur, by `refine` Anderson iterations
    from `guess` (AIDI): z -> (a'/a) x + a' (sigma - sigma') eps_hat(z, t')."""
    (a, s), (a_cur, s_cur) = scales(decoder.schedule, t_next), scales(decoder.schedule, t_cur)
    if a <= 0:  # zero SNR at the top: nothing to solve
        return guess
    return anderson(_inverse_step(decoder, x, t_next, a / a_cur, a * (s / a - s_cur / a_cur)), guess, refine)


@torch.no_grad()
def ddim_invert(
    model: Denoiser, schedule: NoiseSchedule, x0: torch.Tensor, prediction: str = "eps", steps: int = 50,
    spacing: str = INVERT_SPACING, keep: bool = False, refine: int = 0, clip_x0: float | None = None,
    solver: str = "ddim",
) -> tuple[torch.Tensor, list[torch.Tensor]]:  # fmt: skip
    """Encode x0 to x_T with the eta = 0 DDIM update run forwards over the S timesteps of
    `spacing` (ascending): x_{t'} = a' x0_hat(x_t, t) + s' eps_hat(x_t, t). The first step
    starts at the data, where the model is not defined; it is evaluated at the lowest
    visited timestep (the usual x_t ~ x_{t-1} approximation of DDIM inversion). With solver "heun"
    every later step is Heun's trapezoid run forwards (the decoder's own last step is Euler, so
    the first inverse step stays one).

    With `refine` = k, each inverse step is then made exact for the decoder by k fixed-point
    iterations, Anderson-accelerated (Pan et al. 2023, AIDI): decoding from t' computes
    x~ = x~' + (sigma - sigma') eps_hat(x_{t'}, t') in x~ = x / a, so the x_{t'} that decodes to x_t solves
    x_{t'} = a' (x_t / a + (sigma' - sigma) eps_hat(x_{t'}, t')), iterated from the plain estimate
    (k more model calls a step), with x0_hat clipped as the decoder clips it (`clip_x0`), so the
    refined steps invert the very map that decodes. Heun's inverse steps are not refined: its trapezoid
    over the top step (sigma 14 -> 157 on the linear schedule) makes that fixed point ill-conditioned.
    Returns x_T and, if keep, every state from x0 up."""
    if not 0 <= refine <= MAX_REFINE:
        raise ValueError(f"fixed-point iterations must be between 0 and {MAX_REFINE}, got {refine}")
    if check_solver(solver) == "heun" and refine:
        raise ValueError("fixed-point refinement inverts DDIM's steps; Heun's inversion runs without it")
    estimate, decoder = Estimator(model, schedule, prediction), Estimator(model, schedule, prediction, clip_x0)
    ascending = timesteps(schedule.T, steps, spacing, schedule)[::-1]
    x, states = x0, [x0] if keep else []
    for k, t_next in enumerate(ascending):
        t_cur = ascending[k - 1] if k else -1
        x0_hat, eps_hat = estimate(x, ascending[max(k - 1, 0)])
        a, s = scales(schedule, t_next)
        x_next = a * x0_hat + s * eps_hat
        if solver == "heun" and 0 < k < len(ascending) - 1:  # Euler from the data and up to t = T (as it decodes)
            x_next = _heun_forward(estimate, x, x_next, t_cur, t_next)
        if refine:
            x_next = _exact_step(decoder, x, x_next, t_cur, t_next, refine)
        x = x_next
        if keep:
            states.append(x)
    return x, states


def ddim_decode(
    model: Denoiser, schedule: NoiseSchedule, x_T: torch.Tensor, prediction: str = "eps", steps: int = 50,
    spacing: str = INVERT_SPACING, clip_x0: float | None = None, solver: str = "ddim",
) -> torch.Tensor:  # fmt: skip
    """Decode x_T to x_0 with deterministic DDIM (eta = 0), that is Euler on the flow ODE, or with Heun,
    over the same timesteps."""
    estimate = Estimator(model, schedule, prediction, clip_x0)
    return last(DECODERS[check_solver(solver)](estimate, x_T, timesteps(schedule.T, steps, spacing, schedule))).x


@dataclass(frozen=True)
class RoundTrip:
    x0: torch.Tensor
    x_T: torch.Tensor
    x0_rec: torch.Tensor

    def mse(self) -> float:
        """Mean squared error per dimension of the reconstruction."""
        return float((self.x0_rec - self.x0).pow(2).mean())

    def psnr(self, data_range: float = 2.0) -> float:
        """Peak signal-to-noise ratio in dB for data spanning `data_range` ([-1, 1]: 2)."""
        mse = self.mse()
        return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


def round_trip(
    model: Denoiser, schedule: NoiseSchedule, x0: torch.Tensor, prediction: str = "eps", steps: int = 50,
    spacing: str = INVERT_SPACING, clip_x0: float | None = None, refine: int = 0, solver: str = "ddim",
) -> RoundTrip:  # fmt: skip
    """x0 -> x_T -> x0_rec with the same S steps and solver both ways (x0_hat clipped while decoding, if
    asked; each inverse step refined by `refine` fixed-point iterations)."""
    x_T, _ = ddim_invert(model, schedule, x0, prediction, steps, spacing, refine=refine, clip_x0=clip_x0,
                         solver=solver)  # fmt: skip
    return RoundTrip(x0, x_T, ddim_decode(model, schedule, x_T, prediction, steps, spacing, clip_x0, solver))


def error_curve(
    model: Denoiser, schedule: NoiseSchedule, x0: torch.Tensor, prediction: str = "eps",
    steps: tuple[int, ...] = ERROR_STEPS, clip_x0: float | None = None,
    progress: Callable[[float, str], None] | None = None, refine: int = 0, solver: str = "ddim",
) -> list[tuple[int, float]]:  # fmt: skip
    """Round-trip MSE per dimension at each S (those above T are skipped), with `refine`
    fixed-point iterations per inverse step."""
    out = []
    ladder = [s for s in steps if s <= schedule.T]
    for i, S in enumerate(ladder):
        if progress:
            progress(i / len(ladder), f"round trip with {S} steps")
        trip = round_trip(model, schedule, x0, prediction, S, clip_x0=clip_x0, refine=refine, solver=solver)
        out.append((S, trip.mse()))
    return out


def slerp(z0: torch.Tensor, z1: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation per item (flattened): sin((1-a) theta)/sin(theta) z0 + sin(a theta)/sin(theta) z1,
    theta the angle between z0 and z1 (Shoemake 1985); lerp where they are (anti)parallel."""
    a = torch.as_tensor(alpha, dtype=z0.dtype, device=z0.device)
    flat0, flat1 = z0.reshape(len(z0), -1), z1.reshape(len(z1), -1)
    cos = (flat0 * flat1).sum(1) / (flat0.norm(dim=1) * flat1.norm(dim=1)).clamp_min(1e-12)
    theta = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(theta)
    safe = sin.abs() > 1e-6
    w0 = torch.where(safe, torch.sin((1 - a) * theta) / sin.where(safe, 1.0), 1 - a)
    w1 = torch.where(safe, torch.sin(a * theta) / sin.where(safe, 1.0), a)
    shape = (-1,) + (1,) * (z0.dim() - 1)
    return w0.reshape(shape) * z0 + w1.reshape(shape) * z1


def lerp(z0: torch.Tensor, z1: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    return (1 - alpha) * z0 + alpha * z1


INTERPOLATIONS = {"slerp": slerp, "lerp": lerp}


@dataclass
class Morph:
    """Decoded interpolation paths between two latents, for each method."""

    alphas: np.ndarray  # (F,)
    latents: dict[str, np.ndarray]  # method -> (F, ...) latents
    decoded: dict[str, np.ndarray]  # method -> (F, ...) decoded data
    norms: dict[str, np.ndarray]  # method -> (F,) |z| / sqrt(D), about 1 in the typical set


def interpolate(
    model: Denoiser, schedule: NoiseSchedule, a: torch.Tensor, b: torch.Tensor, prediction: str = "eps",
    steps: int = 50, frames: int = 9, clip_x0: float | None = None,
) -> Morph:  # fmt: skip
    """Invert two items (each (1, ...)), walk between their latents by slerp and by lerp,
    and decode every point of both paths (one batch per method)."""
    from explorer.limits import check_int

    frames = check_int("interpolation frames", frames, 2, MAX_MORPH_FRAMES)
    z, _ = ddim_invert(model, schedule, torch.cat([a, b]), prediction, steps)
    alphas = torch.linspace(0, 1, frames, dtype=z.dtype, device=z.device)
    morph = Morph(alphas.cpu().numpy(), {}, {}, {})
    for name, fn in INTERPOLATIONS.items():
        path = torch.cat([fn(z[:1], z[1:], float(alpha)) for alpha in alphas])
        decoded = ddim_decode(model, schedule, path, prediction, steps, clip_x0=clip_x0)
        morph.latents[name] = path.cpu().numpy()
        morph.decoded[name] = decoded.cpu().numpy()
        morph.norms[name] = (path.reshape(frames, -1).norm(dim=1) / math.sqrt(path[0].numel())).cpu().numpy()
    return morph


PATH_STEPS = 200  # Euler steps for the drawn trajectories: fine enough that their shape is the ODE's


def ode_paths(
    model: Denoiser, schedule: NoiseSchedule, x_T: torch.Tensor, prediction: str, steps: int = PATH_STEPS,
    clip_x0: float | None = None,
) -> np.ndarray:  # fmt: skip
    """Trajectories (N, S + 1, ...) of the probability-flow ODE by Euler (DDIM, eta = 0) over
    uniformly spaced timesteps from T, x_T first, x0_hat clipped to [-clip_x0, clip_x0] if asked (as the
    samplers clip: an eps-model's x0_hat at the cosine schedule's top amplifies its error 20,000-fold)."""
    ts = timesteps(schedule.T, steps, "trailing", schedule)
    states = [x_T] + [step.x for step in euler_steps(Estimator(model, schedule, prediction, clip_x0), x_T, ts)]
    return torch.stack(states, 1).cpu().numpy()
