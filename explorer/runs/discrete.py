"""Generation with a trained discrete (D3PM) model, recorded step by step."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from explorer.core.discrete.process import DiscreteProcess
from explorer.limits import check_int
from explorer.runs.common import chunk_seed
from explorer.sampling.discrete import prior_sample, reverse_steps, to_images
from explorer.store.registry import REGISTRY, ModelRegistry, load_discrete


@dataclass(frozen=True)
class DiscreteSettings:
    model: str
    n: int = 16
    steps: int | None = None  # model calls; None: every one of the T steps
    seed: int = 0
    device: str | None = None  # None: the best available
    chunk: int = 0  # k > 0: the k-th further batch of the same seed (runs.common.chunk_seed)


@dataclass
class DiscreteRun:
    """A recorded reverse run: ts[i] is the paper's t of xs[i] (T first, 0 for the data); guesses[i]
    is the model's expected x0 made at ts[i] (the data's own entry repeats the last guess)."""

    settings: DiscreteSettings
    process: DiscreteProcess
    ts: list[int]
    xs: list[torch.Tensor]
    guesses: list[torch.Tensor]
    digits: list[int]  # the digits classifier's reading of each sample

    @property
    def samples(self) -> torch.Tensor:
        return to_images(self.xs[-1], self.process.K)


def run_discrete(settings: DiscreteSettings, registry: ModelRegistry = REGISTRY) -> DiscreteRun:
    """Sample n digits from a discrete model, recording every visited step (limits checked here)."""
    from explorer.evaluation.digits import predict_digits
    from explorer.limits import MAX_IMAGES

    loaded, process = load_discrete(settings.model, settings.device, registry)
    n = check_int("number of images", settings.n, 1, MAX_IMAGES)
    steps = process.T if settings.steps is None else check_int("reverse steps", settings.steps, 1, process.T)
    seed = check_int("seed", settings.seed, 0, 2**31 - 1)
    device = loaded.device
    gen = torch.Generator().manual_seed(chunk_seed(seed, check_int("chunk", settings.chunk, 0, 2**16)))  # CPU: draws
    hyper = loaded.hyper
    x_T = prior_sample(process, (n, 1, hyper["size"], hyper["size"]), gen, device)
    ts, xs, guesses = [process.T], [x_T], []
    for step in reverse_steps(loaded.model, process, x_T, steps, gen):
        ts.append(step.s + 1)
        xs.append(step.x)
        guesses.append(step.x0_mean)
    guesses.append(guesses[-1])
    xs, guesses = list(torch.stack(xs).cpu().unbind(0)), list(torch.stack(guesses).cpu().unbind(0))  # one transfer
    images = to_images(xs[-1], process.K)
    return DiscreteRun(settings, process, ts, xs, guesses, predict_digits(images).tolist())
