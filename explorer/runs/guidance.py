"""The guidance sweep: one x_T sampled at several classifier-free guidance scales (Ho & Salimans 2022)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from explorer.core.guidance import MAX_GUIDANCE, Guided, check_label
from explorer.evaluation.classes import class_readings
from explorer.limits import check_float

SWEEP_SCALES = (0.0, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class SweepSettings:
    model: str
    label: int = 0
    n: int = 500  # points (images: at most 64)
    seed: int = 0
    steps: int = 50  # DDIM steps (eta = 0, trailing spacing, x0 clipped to the data range)
    scales: tuple[float, ...] = SWEEP_SCALES


@dataclass
class Sweep:
    """Samples for each guidance scale from one x_T, with frames recorded along the way."""

    settings: SweepSettings
    dataset: str
    classes: tuple[str, ...]
    steps: list[int]  # the paper's t of each recorded frame
    frames: dict[float, list[torch.Tensor]]  # w -> x_t at each recorded t
    precision: dict[float, float]
    diversity: dict[float, float]

    def samples(self, w: float) -> torch.Tensor:
        return self.frames[w][-1]


MAX_SWEEP_FRAMES = 201  # every DDIM step is recorded (at most 200 steps)


def run_sweep(settings: SweepSettings) -> Sweep:
    """Sample a conditional model at every scale in settings.scales from the same x_T."""
    from explorer.runs.common import trajectory
    from explorer.sampling.registry import SamplerSettings
    from explorer.store.registry import data_bound, load_model

    loaded, schedule = load_model(settings.model)
    label = check_label(loaded.model, settings.label)
    if not settings.scales or len(settings.scales) > 8:
        raise ValueError("give between 1 and 8 guidance scales")
    scales = tuple(check_float("guidance scale", w, 0.0, MAX_GUIDANCE) for w in settings.scales)
    sampler = SamplerSettings("ddim", settings.steps, 0.0, "trailing", clip_x0=data_bound(loaded)).validated(schedule.T)
    frames, precision, diversity, steps = {}, {}, {}, []
    for w in scales:
        steps, xs, _, _ = trajectory(loaded, schedule, settings.n, settings.seed, sampler, None,
                                     model=Guided(loaded.model, label, w))  # fmt: skip
        frames[w] = xs
        precision[w], diversity[w] = class_readings(xs[-1], label, loaded.dataset)
    classes = loaded.classes
    return Sweep(settings, loaded.dataset, classes, steps, frames, precision, diversity)
