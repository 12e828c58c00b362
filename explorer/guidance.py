"""Classifier-free guidance (Ho & Salimans 2022) for class-conditional models.

One network, trained with label dropout, gives both the conditional output f(x_t, t, y) and
the unconditional one f(x_t, t, null). Guidance extrapolates between them:
f_w = f_null + w (f_y - f_null), w = 0 unconditional, 1 conditional, > 1 guided. The outputs
eps, x0, v and the flow velocity are each affine in eps for a fixed x_t, so guiding any of
them is the same as guiding eps: every sampler takes the guided model unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from explorer.limits import check_float, check_int

MAX_GUIDANCE = 20.0
SWEEP_SCALES = (0.0, 1.0, 2.0, 4.0, 8.0)


def conditional_models() -> list[str]:
    """Names of the registry's class-conditional models (their config lists the classes)."""
    from explorer.checkpoints import config_or_empty, find_checkpoints, model_roots

    return sorted(name for name, folder in find_checkpoints(model_roots()).items()
                  if config_or_empty(folder).get("classes"))  # fmt: skip


def model_classes(name: str | None) -> tuple[str, ...]:
    """The class names a registry model was trained on (empty: unconditional, or no such model)."""
    from explorer.reverse import load_model

    if not name:
        return ()
    try:
        return config_classes(load_model(name)[0].config)
    except ValueError:
        return ()


def config_classes(config: dict[str, Any]) -> tuple[str, ...]:
    """The class names a checkpoint config records (empty for an unconditional model)."""
    return tuple(config.get("classes") or ())


def num_classes(model: nn.Module) -> int:
    """How many classes a model is conditioned on (0: unconditional)."""
    return int(getattr(model.config, "num_classes", 0))


def check_label(model: nn.Module, label: Any) -> int:
    n = num_classes(model)
    if n == 0:
        raise ValueError("this model is not class-conditional: train one with --conditional to pick a class")
    return check_int("class label", label, 0, n - 1)


class Guided(nn.Module):
    """model(x, t) with classifier-free guidance towards `label` at scale w (label None: unguided)."""

    def __init__(self, model: nn.Module, label: int | None, scale: float):
        super().__init__()
        self.model, self.scale = model, check_float("guidance scale", scale, 0.0, MAX_GUIDANCE)
        self.label = None if label is None else check_label(model, label)
        self.config = model.config

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.label is None or self.scale == 0.0:
            return self.model(x, t) if num_classes(self.model) == 0 else self.model(x, t, None)
        B = x.shape[0]
        y = torch.full((B,), self.label, device=x.device)
        if self.scale == 1.0:
            return self.model(x, t, y)
        t = torch.as_tensor(t, device=x.device)
        both = self.model(torch.cat([x, x]), t if t.dim() == 0 else torch.cat([t, t]),
                          torch.cat([y, torch.full_like(y, num_classes(self.model))]))  # fmt: skip
        cond, uncond = both[:B], both[B:]
        return uncond + self.scale * (cond - uncond)  # Ho & Salimans 2022, eq. 6


ANY_CLASS = "any"  # the class pickers' value for unconditional sampling


@dataclass(frozen=True)
class Conditioning:
    """Which class a run is steered to, and how hard (label None: unconditional; hashable, so
    it can key the runs' caches)."""

    label: int | None = None
    scale: float = 1.0

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model as the samplers should call it: guided when a class is asked for."""
        return model if self.label is None else Guided(model, self.label, self.scale)

    def caption(self, classes: tuple[str, ...] | list[str] = ()) -> str:
        if self.label is None:
            return "unconditional"
        name = classes[self.label] if self.label < len(classes) else str(self.label)
        return f"class {name}, w = {self.scale:g}"


UNCONDITIONAL = Conditioning()


def conditioning(label: Any, scale: Any) -> Conditioning:
    """A Conditioning from a class picker's value ("any", empty or None: unconditional; else a
    class index) and a guidance scale (checked here; the label is checked against the model)."""
    w = check_float("guidance scale", 1.0 if scale is None else scale, 0.0, MAX_GUIDANCE)
    if label is None or (isinstance(label, str) and label.strip().lower() in ("", ANY_CLASS)):
        return Conditioning(None, w)
    return Conditioning(check_int("class label", label, 0, 10_000), w)


def class_choices(classes: tuple[str, ...] | list[str], unconditional: bool = True) -> list[tuple[str, str]]:
    """A class picker's choices: 'index: name' for each class, after "any" (unconditional) if asked."""
    first = [("any (unconditional)", ANY_CLASS)] if unconditional else []
    return first + [(f"{i}: {name}", str(i)) for i, name in enumerate(classes)]


# ---------------------------------------------------------------- the guidance sweep and its readings

PATTERN_REFERENCE_N = 2000  # reference points per class for the patterns' classifier and coverage
COVERAGE_RADIUS = 0.05  # a reference point counts as covered when a sample lies this close


def pattern_reference(seed: int = 12345) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh points of the several-patterns set, PATTERN_REFERENCE_N per class: (x, label)."""
    from explorer import data

    gen = torch.Generator().manual_seed(seed)
    points = data.make_points("patterns", 4 * PATTERN_REFERENCE_N, 0.0, gen)
    return points.x, points.label


def classify_points(x: torch.Tensor) -> torch.Tensor:
    """The reference classifier for the patterns: the class of the nearest reference point."""
    ref, label = pattern_reference()
    return label[torch.cdist(x.float(), ref).argmin(1)]


def coverage(samples: torch.Tensor, reference: torch.Tensor, radius: float = COVERAGE_RADIUS) -> float:
    """Recall: the share of reference points with a sample within `radius` (0 when all samples
    collapse onto a small part of the class, 1 when they spread over all of it)."""
    if len(samples) == 0:
        return 0.0
    return float((torch.cdist(reference.float(), samples.float()).min(1).values < radius).float().mean())


def spread_ratio(samples: torch.Tensor, real: torch.Tensor) -> float:
    """Diversity for images: mean pairwise distance of the samples over that of real images of
    the class (1: as varied as the data, 0: all the same image)."""

    def spread(x: torch.Tensor) -> float:
        flat = x.reshape(len(x), -1).float()
        return float(torch.pdist(flat).mean()) if len(flat) > 1 else 0.0

    return spread(samples) / max(spread(real), 1e-12)


def class_precision(samples: torch.Tensor, label: int, dataset: str) -> float:
    """The share of samples the reference classifier assigns to class `label` (digits: the digits
    CNN; patterns: the class of the nearest reference point)."""
    from explorer.classifier import predict_digits

    predicted = predict_digits(samples) if dataset == "digits" else classify_points(samples)
    return float((predicted == label).float().mean())


def class_readings(samples: torch.Tensor, label: int, dataset: str) -> tuple[float, float]:
    """(precision, diversity) of samples asked to be of class `label`: class_precision, and
    coverage of the class (patterns) or the spread ratio (digits)."""
    from explorer import data

    precision = class_precision(samples, label, dataset)
    if dataset == "digits":
        images, labels = data.digits()
        return precision, spread_ratio(samples, images[labels == label])
    ref, ref_label = pattern_reference()
    return precision, coverage(samples, ref[ref_label == label])


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


SWEEP_FRAMES = 25


@lru_cache(maxsize=8)
def run_sweep(settings: SweepSettings) -> Sweep:
    """Sample a conditional model at every scale in settings.scales from the same x_T."""
    from explorer.reverse import data_bound, load_model, trajectory
    from explorer.samplers import SamplerSettings

    loaded, schedule = load_model(settings.model)
    label = check_label(loaded.model, settings.label)
    if not settings.scales or len(settings.scales) > 8:
        raise ValueError("give between 1 and 8 guidance scales")
    scales = tuple(check_float("guidance scale", w, 0.0, MAX_GUIDANCE) for w in settings.scales)
    sampler = SamplerSettings("ddim", settings.steps, 0.0, "trailing", clip_x0=data_bound(loaded)).validated(schedule.T)
    keep = {int(t) for t in torch.linspace(0, schedule.T, SWEEP_FRAMES).round()}
    frames, precision, diversity, steps = {}, {}, {}, []
    for w in scales:
        steps, xs, _, _ = trajectory(loaded, schedule, settings.n, settings.seed, sampler, keep,
                                     model=Guided(loaded.model, label, w))  # fmt: skip
        frames[w] = xs
        precision[w], diversity[w] = class_readings(xs[-1], label, loaded.config["dataset"])
    classes = config_classes(loaded.config)
    return Sweep(settings, loaded.config["dataset"], classes, steps, frames, precision, diversity)


def sweep_frame(sweep: Sweep, i: int, size: int) -> np.ndarray:
    """Recorded frame i of every scale, side by side, each captioned with its readings."""
    from explorer.frames import angle_colors, hstack_frames
    from explorer.reverse import panel_frame

    i = check_int("frame", i, 0, len(sweep.steps) - 1)
    t = sweep.steps[i]
    panels = []
    for w, xs in sweep.frames.items():
        x = xs[i].numpy()
        color = angle_colors(xs[0].numpy()) if x.ndim == 2 else None
        caption = f"w = {w:g}  t = {t}  precision {sweep.precision[w]:.2f}"
        panels.append(panel_frame(x, color, size, caption, 1 - t / sweep.steps[0]))
    return hstack_frames(panels)


def sweep_gif(settings: SweepSettings, size: int, fps: float, out: str | Path) -> Path:
    """The sweep's reverse processes, side by side, as a GIF."""
    from explorer.export import write_gif
    from explorer.limits import MAX_GIF_SIZE, MIN_GIF_SIZE

    size = check_int("GIF panel size", size, MIN_GIF_SIZE, MAX_GIF_SIZE // 4)
    sweep = run_sweep(settings)
    return write_gif([sweep_frame(sweep, i, size) for i in range(len(sweep.steps))], out, fps)
