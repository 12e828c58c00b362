"""What every run shares: the model's training set rebuilt from its config, and a recorded trajectory."""

from __future__ import annotations

from typing import Any

import torch

from explorer.core import draws
from explorer.core.schedules import NoiseSchedule
from explorer.limits import MAX_IMAGES, MAX_POINTS, check_int
from explorer.sampling.registry import SamplerSettings, sample_steps
from explorer.store.registry import ModelHandle, is_image_model
from explorer.training.config import labelled_training_data, sample_shape

MAX_FRAMES = 200


def training_set(loaded: ModelHandle, limit: int, label: int | None = None) -> torch.Tensor:
    """The model's training set, rebuilt from the run settings in its config (at most `limit`
    items; with a label, only that class's)."""
    x, labels = labelled_training_data(loaded.train)
    if label is not None:
        if labels is None:
            raise ValueError(f"model {loaded.name!r} was trained on unlabelled data: it has no classes")
        x = x[labels == label]
    return x[:limit]


@torch.no_grad()
def trajectory(
    loaded: ModelHandle, schedule: NoiseSchedule, n: int, seed: int, sampler: SamplerSettings,
    keep: set[int] | None, model: Any = None, prediction: str | None = None, chunk: int = 0,
) -> tuple[list[int], list[torch.Tensor], list[torch.Tensor], int]:  # fmt: skip
    """Sample from the prior x_T ~ N(0, I) (N(0, sigma_max^2 I) for VE; seeded), recording (x_t, x0_hat)
    at the steps in `keep` (paper's t; T is recorded with the first estimate; None records every step the sampler
    visits). `model` and `prediction` replace the checkpoint's network and its output type; `chunk` k > 0
    draws the k-th further batch of the same seed (chunk_seed). Runs on the model's device with a CPU
    generator (core.draws); the recorded states leave the device in one transfer at the end.
    Returns steps, xs, x0s (CPU), NFE."""
    keep_all = keep is None
    keep = keep or set()
    limit = MAX_IMAGES if is_image_model(loaded) else MAX_POINTS
    n = check_int("number of samples", n, 1, limit)
    device = loaded.device  # the registry put the model on config.model_device
    gen = torch.Generator().manual_seed(chunk_seed(check_int("seed", seed, 0, 2**31 - 1), chunk))  # CPU: see draws
    x = draws.randn(sample_shape(loaded.hyper, n), gen, device) * schedule.prior_std
    steps, xs, x0s, nfe = [], [], [], 0
    first = True
    prediction = prediction or loaded.prediction
    if model is None:  # the handle's network: its CUDA graphs where the registry made them
        model = loaded.network
    for step in sample_steps(sampler, model, schedule, x, gen, prediction):
        if first and (keep_all or schedule.T in keep):
            steps.append(schedule.T), xs.append(x), x0s.append(step.x0_hat)
        first = False
        if keep_all or step.t_prev + 1 in keep or step.t_prev == -1:
            steps.append(step.t_prev + 1), xs.append(step.x), x0s.append(step.x0_hat)
        nfe = step.nfe
    return steps, list(torch.stack(xs).cpu().unbind(0)), list(torch.stack(x0s).cpu().unbind(0)), nfe


SEED_SPACE = 2**31  # a request's seeds are below this; torch's CPU generator keeps 32 bits of a seed


def chunk_seed(seed: int, chunk: int) -> int:
    """The generator seed of batch `chunk` of a draw of `seed`: chunk 0 is the seed itself, so the
    first batch of a large draw is the interactive run of that seed; later chunks take seeds in
    [2^31, 2^32), which no request's chunk 0 uses (torch's CPU generator reads 32 bits of a seed: a
    stride of 2^32 would give every chunk the same draw)."""
    if chunk == 0:
        return seed
    return SEED_SPACE + (seed * 1_000_003 + chunk * 7_919) % SEED_SPACE


def draw_samples(
    loaded: ModelHandle, schedule: NoiseSchedule, n: int, seed: int, sampler: SamplerSettings, model: Any = None
) -> tuple[torch.Tensor, int]:
    """n final samples and the NFE of one: points in one run; images in chunks of MAX_IMAGES (chunk_seed:
    chunk 0 is the interactive run of the same seed), so a score at n = 297 is not bound by the
    interactive image limit. The caller bounds the work."""
    if not is_image_model(loaded):
        _, xs, _, nfe = trajectory(loaded, schedule, n, seed, sampler, {0}, model)
        return xs[-1], nfe
    chunks, nfe = [], 0
    for k, start in enumerate(range(0, n, MAX_IMAGES)):
        _, xs, _, nfe = trajectory(loaded, schedule, min(MAX_IMAGES, n - start), seed, sampler, {0}, model, chunk=k)
        chunks.append(xs[-1])
    return torch.cat(chunks), nfe


def model_parts(name: str) -> tuple[ModelHandle, NoiseSchedule, str, float]:
    from explorer.store.registry import data_bound, load_model

    loaded, schedule = load_model(name)
    return loaded, schedule, loaded.prediction, data_bound(loaded)
