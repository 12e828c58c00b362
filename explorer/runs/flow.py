"""Straight and curved paths: a diffusion model, a rectified flow and its reflow from the same x_T."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.evaluation.metrics import chord_deviation, path_straightness
from explorer.runs.common import model_parts
from explorer.sampling.inversion import PATH_STEPS, ode_paths
from explorer.sampling.registry import SamplerSettings
from explorer.sampling.spacings import timesteps
from explorer.store.registry import is_image_model

FEW_STEPS = (1, 2, 5, 10)


@dataclass(frozen=True)
class FlowComparisonSettings:
    """Two to four models of the same data (a diffusion model, a rectified flow, one trained on minibatch-OT
    pairs, a reflow), one x_T."""

    models: tuple[str, ...]
    seed: int = 0


@dataclass
class FlowComparison:
    settings: FlowComparisonSettings
    kind: str  # "points" or "image"
    metric: str
    higher_is_better: bool
    paths: dict[str, np.ndarray]  # model -> (N, K, ...) Euler trajectories, x_T first
    chord_deviation: dict[str, float]  # mean distance to the chord over its length (0: straight lines)
    straightness: dict[str, float]  # Liu et al.'s S in each model's time t / T (0: straight, constant speed)
    samples: dict[str, dict[int, np.ndarray]]  # model -> steps -> final samples
    quality: dict[str, dict[int, float]]  # model -> steps -> the dataset's quality metric


FLOW_PATHS = {"points": 256, "image": 64}  # trajectories measured for straightness


FLOW_QUALITY = {"points": 2000, "image": 297}  # samples scored at each step count (images: FD's fixed n)


def path_times(schedule) -> np.ndarray:
    """The time t / T in [0, 1] of each state ode_paths records: x_T at 1, then each visited index
    (index k is time (k + 1) / T), the data at 0."""
    seq = timesteps(schedule.T, PATH_STEPS, "trailing", schedule)
    return np.array([(t + 1) / schedule.T for t in seq] + [0.0])


def run_flow_comparison(settings: FlowComparisonSettings) -> FlowComparison:
    """Euler trajectories (straightness) and few-step quality (1, 2, 5, 10 steps, uniformly spaced
    from t = T) of both models, every run from the same seeded x_T."""
    from explorer.evaluation.quality import metric_for, sample_quality
    from explorer.runs.common import draw_samples
    from explorer.training.config import sample_shape

    if not 2 <= len(settings.models) <= 4 or len(set(settings.models)) != len(settings.models):
        raise ValueError("compare two to four different models")
    models = {name: model_parts(name) for name in settings.models}
    datasets = {loaded.dataset for loaded, *_ in models.values()}
    if len(datasets) != 1:
        raise ValueError(f"compare two models of the same data; these learned {sorted(datasets)}")
    if len({str(loaded.hyper) for loaded, *_ in models.values() if is_image_model(loaded)}) > 1:
        raise ValueError("the two image models must produce images of the same shape")
    first = next(iter(models.values()))[0]
    kind = "image" if is_image_model(first) else "points"
    metric = metric_for(first.dataset)
    gen = torch.Generator().manual_seed(settings.seed)
    x_T = torch.randn(sample_shape(first.hyper, FLOW_PATHS[kind]), generator=gen)
    out = FlowComparison(settings, kind, metric.name, metric.higher_is_better, {}, {}, {}, {}, {})
    for name, (loaded, schedule, prediction, bound) in models.items():
        paths = ode_paths(loaded.model, schedule, x_T.to(loaded.device), prediction, clip_x0=bound)
        out.paths[name] = paths
        flat = paths.reshape(len(paths), paths.shape[1], -1)
        out.chord_deviation[name] = chord_deviation(flat)
        out.straightness[name] = path_straightness(flat, path_times(schedule))
        out.samples[name], out.quality[name] = {}, {}
        for S in FEW_STEPS:
            sampler = SamplerSettings("euler", S, spacing="trailing", clip_x0=bound)
            samples, _ = draw_samples(loaded, schedule, FLOW_QUALITY[kind], settings.seed, sampler)
            out.samples[name][S] = samples.numpy()
            out.quality[name][S] = sample_quality(loaded.dataset, loaded.train.noise, samples)
    return out
