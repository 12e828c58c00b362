"""Discrete (D3PM) models: a UNet with a K-way logit head per pixel, its loss and its reverse sampler.

The network reads x_t one-hot (S input channels: the K grey levels, plus [MASK] for absorbing
corruption) and the step index, and outputs logits of p(x0 | x_t) over the K levels at every
pixel (Austin et al. 2021, sec. 3.3, the x0-parameterisation). The reverse step is the posterior
q(x_s | x_t, x0) averaged over that prediction (eq. 4); skipping steps uses Q_{s -> t}.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from explorer import discrete
from explorer.checkpoints import LoadedModel
from explorer.device import pick_device
from explorer.limits import check_int

PREDICTION = "x0-logits"
DATASETS = ("digits",)
DIGIT_LEVELS = 17


def model_logits(model: torch.nn.Module, xt: torch.Tensor, k: torch.Tensor, states: int) -> torch.Tensor:
    """Logits of p(x0 | x_t) for integer images x_t (B, 1, H, W): (B, 1, H, W, K)."""
    inp = torch.nn.functional.one_hot(xt[:, 0], states).permute(0, 3, 1, 2).float()
    return model(inp, k).permute(0, 2, 3, 1).unsqueeze(1)


def training_loss(
    model: torch.nn.Module, process: discrete.DiscreteProcess, x0: torch.Tensor, generator: torch.Generator,
    hybrid_lambda: float,
) -> torch.Tensor:  # fmt: skip
    """The hybrid loss on one batch of integer images, one uniform step per image (`process` on
    the model's device, see discrete.on_device)."""
    k = torch.randint(0, process.T, (x0.shape[0],), generator=generator, device=x0.device)
    probs = process.Qbar[k].gather(1, x0.flatten(1).unsqueeze(-1).expand(-1, -1, process.states))  # (B, P, S)
    xt = discrete.categorical(probs, generator).view_as(x0)
    with torch.autocast(x0.device.type, dtype=torch.bfloat16, enabled=x0.device.type == "cuda"):
        logits = model_logits(model, xt, k, process.states)
    return discrete.hybrid_loss(process, logits.float(), x0, xt, k, hybrid_lambda)


def visited(T: int, steps: int) -> list[int]:
    """`steps` step indices from T - 1 down to 0, evenly spaced (each a model call)."""
    steps = check_int("reverse steps", steps, 1, T)
    return [int(k) for k in np.unique(np.linspace(0, T - 1, steps).round().astype(int))[::-1]]


def prior_sample(process: discrete.DiscreteProcess, shape: tuple[int, ...], generator: torch.Generator,
                 device: torch.device | str = "cpu") -> torch.Tensor:  # fmt: skip
    """x_T from the stationary distribution: all [MASK], or uniform levels."""
    if process.mask is not None:
        return torch.full(shape, process.mask, dtype=torch.long, device=device)
    return torch.randint(0, process.K, shape, generator=generator, device=device)


def to_images(levels: torch.Tensor, K: int) -> torch.Tensor:
    """Grey levels 0..K-1 (or their expectation) as images in [-1, 1]."""
    return levels.float() / (K - 1) * 2 - 1


@dataclass
class DiscreteStep:
    """One reverse step from index k to s (-1: the data): the state reached, and the model's
    x0 guess made at k as its expected grey level in [-1, 1] (CPU tensors)."""

    k: int
    s: int
    x: torch.Tensor  # (B, 1, H, W) integer states at s
    x0_mean: torch.Tensor  # (B, 1, H, W)
    nfe: int


@torch.no_grad()
def reverse_steps(
    model: torch.nn.Module, process: discrete.DiscreteProcess, x_T: torch.Tensor, steps: int,
    generator: torch.Generator,
) -> Iterator[DiscreteStep]:  # fmt: skip
    """Ancestral sampling over `steps` visited indices with eq. 4, p(x_s | x_k) proportional to
    sum over x0 of q(x_s, x_k | x0) p~(x0 | x_k), skips taken with Q_{s -> k}. The last step, to the
    data (s = -1), is the same formula with q(x_s | x0) = [x_s = x0], so an unmasked pixel keeps its
    level and an exact p~ gives exact marginals (tests/test_d3pm.py). Yields every step."""
    device = x_T.device
    ks = visited(process.T, steps)
    levels = torch.arange(process.K, device=device, dtype=torch.float32)
    x = x_T
    for i, k in enumerate(ks):
        s = ks[i + 1] if i + 1 < len(ks) else -1
        logits = model_logits(model, x, torch.tensor(k, device=device), process.states).float()
        p0 = torch.softmax(logits, -1)
        if process.mask is not None:
            p0 = torch.cat([p0, p0.new_zeros(*p0.shape[:-1], 1)], -1)
        forward = discrete.transition_between(process, s, k).float().to(device)
        prior = process.Qbar[s].float().to(device) if s >= 0 else torch.eye(process.states, device=device)
        x = discrete.categorical(discrete.bayes_posterior(p0, x, forward, prior), generator)
        mean = (p0[..., : process.K] * levels).sum(-1)
        yield DiscreteStep(k, s, x.cpu(), to_images(mean, process.K).cpu(), i + 1)


# ---------------------------------------------------------------- registry models, runs and frames


def discrete_models() -> list[str]:
    """Names of the registry's discrete models (shipped first, then the user's)."""
    from explorer.checkpoints import find_checkpoints, is_discrete, model_roots

    return sorted(name for name, folder in find_checkpoints(model_roots()).items() if is_discrete(folder))


@lru_cache(maxsize=4)
def load_discrete(name: str, device: str | None = None) -> tuple[LoadedModel, discrete.DiscreteProcess]:
    """A registry discrete model (on `device`, default the best available) and its process, loaded once."""
    from explorer.checkpoints import load_checkpoint, model_roots, resolve_model

    loaded = load_checkpoint(resolve_model(name, model_roots()), pick_device(device))
    info = loaded.config.get("discrete")
    if info is None:
        raise ValueError(f"{name!r} is a Gaussian diffusion model: open it in the Reverse tab")
    return loaded, discrete.make_process(info["transition"], info["K"], loaded.config["schedule"]["T"])


@dataclass(frozen=True)
class DiscreteSettings:
    model: str
    n: int = 16
    steps: int | None = None  # model calls; None: every one of the T steps
    seed: int = 0
    device: str | None = None  # None: the best available


@dataclass
class DiscreteRun:
    """A recorded reverse run: ts[i] is the paper's t of xs[i] (T first, 0 for the data); guesses[i]
    is the model's expected x0 made at ts[i] (the data's own entry repeats the last guess)."""

    settings: DiscreteSettings
    process: discrete.DiscreteProcess
    ts: list[int]
    xs: list[torch.Tensor]
    guesses: list[torch.Tensor]
    confidence: float  # the digits classifier's mean confidence on the samples
    digits: list[int]  # and its reading of each

    @property
    def samples(self) -> torch.Tensor:
        return to_images(self.xs[-1], self.process.K)


@lru_cache(maxsize=8)
def run_discrete(settings: DiscreteSettings) -> DiscreteRun:
    """Sample n digits from a discrete model, recording every visited step (limits checked here)."""
    from explorer.classifier import evaluate_digits, predict_digits
    from explorer.limits import MAX_IMAGES

    loaded, process = load_discrete(settings.model, settings.device)
    n = check_int("number of images", settings.n, 1, MAX_IMAGES)
    steps = process.T if settings.steps is None else check_int("reverse steps", settings.steps, 1, process.T)
    seed = check_int("seed", settings.seed, 0, 2**31 - 1)
    device = next(loaded.model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    hyper = loaded.config["hyper"]
    x_T = prior_sample(process, (n, 1, hyper["size"], hyper["size"]), gen, device)
    ts, xs, guesses = [process.T], [x_T.cpu()], []
    for step in reverse_steps(loaded.model, process, x_T, steps, gen):
        ts.append(step.s + 1)
        xs.append(step.x)
        guesses.append(step.x0_mean)
    guesses.append(guesses[-1])
    images = to_images(xs[-1], process.K)
    return DiscreteRun(settings, process, ts, xs, guesses, evaluate_digits(images).confidence,
                       predict_digits(images).tolist())  # fmt: skip


def reverse_frame(run: DiscreteRun, i: int, size: int) -> np.ndarray:
    """Recorded state i as x_t (mask red) beside the model's x0 guess."""
    from explorer.frames import hstack_frames, render_images

    i = check_int("frame", i, 0, len(run.xs) - 1)
    t, progress = run.ts[i], 1 - run.ts[i] / run.process.T
    left = render_images(discrete.to_rgb(run.xs[i], run.process).numpy(), size,
                         f"x_t  t = {t} / {run.process.T}", progress)  # fmt: skip
    right = render_images(run.guesses[i].numpy(), size, "model's expected x_0", progress)
    return hstack_frames([left, right])


def reverse_gif(settings: DiscreteSettings, n_frames: int, fps: float, size: int, out: str | Path) -> Path:
    """The reverse process from x_T to the data as a GIF (the tab's export and `sample`)."""
    from explorer.export import write_gif
    from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE

    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF size", size, MIN_GIF_SIZE, MAX_GIF_SIZE)
    run = run_discrete(settings)
    picks = np.unique(np.linspace(0, len(run.xs) - 1, n_frames).round().astype(int))
    return write_gif([reverse_frame(run, int(i), size) for i in picks], out, fps)
