"""Samplers side by side: one model, one x_T, two to four sampler configurations.

Each configuration runs from the same seeded x_T, records its trajectory, and is scored by
the model's quality metric (spiral: mean distance to the curve; other point sets: sliced
W1 to held-out data; digits: the classifier's confidence), its exact NFE and its wall time.
The quality-versus-NFE curve runs each sampler over a fixed ladder of step counts and is
cached on disk per model weights, so it is computed once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from explorer import data, frames
from explorer.checkpoints import cache_dir
from explorer.guidance import UNCONDITIONAL, Conditioning, class_precision, config_classes
from explorer.limits import MAX_CURVE_CACHE_BYTES, MAX_IMAGES, check_int, prune_folder
from explorer.metrics import mean_spiral_distance, sliced_wasserstein
from explorer.reverse import MAX_FRAMES, data_bound, is_image_model, load_model, panel_frame, trajectory
from explorer.samplers import SamplerSettings, timesteps

MIN_CONFIGS, MAX_CONFIGS = 2, 4
MAX_COMPARE_POINTS = 5000  # four runs of up to 1000 steps each must stay interactive
CURVE_STEPS = (5, 10, 20, 50, 100, 200, 500, 1000)
CURVE_POINTS, CURVE_IMAGES = 2000, 64
CURVE_SEED = 0
CURVE_VERSION = 1  # bump when the curve's method changes: old cache entries are then ignored
_CURVE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Metric:
    """How a model's samples are scored."""

    name: str
    higher_is_better: bool


SPIRAL_METRIC = Metric("mean distance to the spiral", False)
SLICED_METRIC = Metric("sliced W1 to held-out data", False)
DIGITS_METRIC = Metric("classifier confidence", True)


def metric_for(dataset: str) -> Metric:
    if dataset == "spiral":
        return SPIRAL_METRIC
    if dataset == "digits":
        return DIGITS_METRIC
    return SLICED_METRIC


def sample_quality(train: dict, samples: torch.Tensor) -> float:
    """The model's quality metric of `samples`, from its recorded training settings."""
    dataset = train["dataset"]
    if dataset == "spiral":
        return mean_spiral_distance(samples)
    if dataset == "digits":
        from explorer.classifier import evaluate_digits

        return evaluate_digits(samples).confidence
    held_out = data.make_points(dataset, 5000, train.get("noise", 0.0), torch.Generator().manual_seed(12345)).x
    return sliced_wasserstein(samples.float(), held_out, torch.Generator().manual_seed(0))


@dataclass(frozen=True)
class CompareSettings:
    """One comparison (hashable: it keys the cache)."""

    model: str
    configs: tuple[SamplerSettings, ...]
    n: int = 1000
    seed: int = 0
    cond: Conditioning = UNCONDITIONAL  # class-conditional models: class and guidance scale


@dataclass
class SamplerRun:
    """One configuration's recorded run: states at `t` (paper's t; T first, 0 last)."""

    settings: SamplerSettings
    t: list[int]
    xs: np.ndarray  # (K, N, ...) x_t after each recorded step (the first is x_T)
    x0s: np.ndarray  # (K, N, ...) the x0_hat that produced it
    nfe: int
    seconds: float
    quality: float
    precision: float | None = None  # with a class asked for: the share the reference classifier gives it

    def frame_at(self, fraction: float) -> int:
        """The recorded frame at this fraction of the run (0: x_T, 1: the sample)."""
        return int(round(min(max(fraction, 0.0), 1.0) * (len(self.t) - 1)))


@dataclass
class Comparison:
    settings: CompareSettings
    dataset: str
    kind: str  # "points" or "image"
    T: int
    metric: Metric
    log_snr: np.ndarray  # (T,) of the model's schedule, for the timestep diagnostic
    runs: list[SamplerRun]
    classes: tuple[str, ...] = ()  # a class-conditional model's class names


def validate(settings: CompareSettings, T: int, images: bool) -> CompareSettings:
    """Check the count of configurations, each configuration, and the sample count."""
    if not MIN_CONFIGS <= len(settings.configs) <= MAX_CONFIGS:
        raise ValueError(f"compare {MIN_CONFIGS} to {MAX_CONFIGS} sampler configurations, got {len(settings.configs)}")
    limit = MAX_IMAGES if images else MAX_COMPARE_POINTS
    return replace(
        settings,
        configs=tuple(c.validated(T) for c in settings.configs),
        n=check_int("number of samples", settings.n, 1, limit),
        seed=check_int("seed", settings.seed, 0, 2**31 - 1),
    )


def _thin(n: int) -> np.ndarray:
    """Indices of at most MAX_FRAMES + 1 recorded states, both ends kept."""
    return np.unique(np.linspace(0, n - 1, min(n, MAX_FRAMES + 1)).round().astype(int))


@lru_cache(maxsize=4)
def run_comparison(settings: CompareSettings) -> Comparison:
    """Run every configuration from the same x_T; memoised per setting."""
    loaded, schedule = load_model(settings.model)
    images = is_image_model(loaded)
    settings = validate(settings, schedule.T, images)
    model, label = settings.cond.wrap(loaded.model), settings.cond.label  # wrap checks the label
    runs = []
    for config in settings.configs:
        start = time.perf_counter()
        steps, xs, x0s, nfe = trajectory(loaded, schedule, settings.n, settings.seed, config, None, model)
        seconds = time.perf_counter() - start
        keep = _thin(len(steps))
        final = xs[-1]
        precision = None if label is None else class_precision(final, label, loaded.config["dataset"])
        runs.append(SamplerRun(config, [steps[i] for i in keep], torch.stack([xs[i] for i in keep]).numpy(),
                               torch.stack([x0s[i] for i in keep]).numpy(), nfe, seconds,
                               sample_quality(loaded.config["train"], final), precision))  # fmt: skip
    return Comparison(settings, loaded.config["dataset"], "image" if images else "points", schedule.T,
                      metric_for(loaded.config["dataset"]), schedule.log_snr.numpy(), runs,
                      config_classes(loaded.config))  # fmt: skip


def clip_bound(model: str) -> float:
    """The data range [-B, B] the named model's x0 estimates may be clipped to."""
    return data_bound(load_model(model)[0])


def visited_timesteps(config: SamplerSettings, model: str) -> list[int]:
    """The paper's t (1..T) at which a configuration calls the model (Heun also calls at t_prev)."""
    _, schedule = load_model(model)
    config = config.validated(schedule.T)
    return [t + 1 for t in timesteps(schedule.T, config.resolved_steps(schedule.T), config.spacing, schedule)]


def run_colors(comparison: Comparison) -> np.ndarray | None:
    """Colour each sample by its x_T's angle, so a colour marks the same starting noise in every panel."""
    if comparison.kind != "points":
        return None
    return frames.angle_colors(comparison.runs[0].xs[0])


def side_by_side(comparison: Comparison, fraction: float, size: int, estimate: bool = False) -> np.ndarray:
    """Every run at the same fraction of its trajectory, as one row of captioned panels."""
    color = run_colors(comparison)
    panels = []
    for run in comparison.runs:
        k = run.frame_at(fraction)
        caption = f"{run.settings.caption()}   t = {run.t[k]}"
        panels.append(panel_frame((run.x0s if estimate else run.xs)[k], color, size, caption, fraction))
    return frames.hstack_frames(panels)


def animation(comparison: Comparison, n_frames: int, size: int) -> list[np.ndarray]:
    """Frames synchronised by fraction of each trajectory, from x_T to the samples."""
    from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE

    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF panel size", size, MIN_GIF_SIZE, MAX_GIF_SIZE // MAX_CONFIGS)
    return [side_by_side(comparison, f, size) for f in np.linspace(0, 1, n_frames)]


def short_name(settings: SamplerSettings) -> str:
    """The sampler's name without its options, e.g. 'DDIM'."""
    return settings.label().split(" S=")[0]


def curve_label(config: SamplerSettings) -> str:
    """A sampler configuration without its step count, e.g. 'DDIM trailing eta=0'."""
    eta = f" eta={config.eta:g}" if config.name == "ddim" else ""
    return f"{short_name(config)} {config.spacing}{eta}"


def table(comparison: Comparison) -> list[list[object]]:
    """One row per configuration: sampler, steps, spacing, eta, NFE, wall time, quality and
    (with a class asked for) the class precision."""
    return [[short_name(r.settings), r.settings.resolved_steps(comparison.T), r.settings.spacing,
             r.settings.eta if r.settings.name == "ddim" else "", r.nfe, round(r.seconds * 1000),
             round(r.quality, 4), "" if r.precision is None else round(r.precision, 3)]
            for r in comparison.runs]  # fmt: skip


TABLE_HEADERS = ["sampler", "steps", "spacing", "eta", "NFE", "wall ms", "quality", "class precision"]


# ---------------------------------------------------------------- quality versus NFE


@dataclass(frozen=True)
class CurvePoint:
    steps: int
    nfe: int
    quality: float
    seconds: float


def _weights_id(model: str) -> str:
    """The SHA-256 of the model's weights, as its checkpoint records it (and loading verified)."""
    return load_model(model)[0].config["files"]["model.safetensors"]


def _curve_cache(model: str, config: SamplerSettings, ladder: list[int], n: int, cond: Conditioning) -> Path:
    fields = {"weights": _weights_id(model), "config": asdict(replace(config, steps=None)), "ladder": ladder,
              "n": n, "seed": CURVE_SEED, "version": CURVE_VERSION}  # fmt: skip
    if cond.label is not None:  # unconditional curves keep the keys they had before guidance existed
        fields["cond"] = asdict(cond)
    key = json.dumps(fields, sort_keys=True)
    return cache_dir() / "curves" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def curve_steps(T: int) -> list[int]:
    return [s for s in CURVE_STEPS if s <= T] or [T]


def quality_curve(
    model: str,
    config: SamplerSettings,
    progress: Callable[[float, str], None] | None = None,
    cond: Conditioning = UNCONDITIONAL,
) -> list[CurvePoint]:
    """Quality and NFE of `config` at each step count of the ladder (fixed n and seed), from the
    disk cache when this model's weights were measured before."""
    loaded, schedule = load_model(model)
    network = cond.wrap(loaded.model)
    config = replace(config, steps=None).validated(schedule.T)
    n = CURVE_IMAGES if is_image_model(loaded) else CURVE_POINTS
    ladder = curve_steps(schedule.T)
    path = _curve_cache(model, config, ladder, n, cond)
    with _CURVE_LOCK:  # one curve at a time: a second request for the same one then reads the cache
        try:
            return [CurvePoint(**p) for p in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            pass
        points = []
        for i, S in enumerate(ladder):
            if progress:
                progress(i / len(ladder), f"{short_name(config)}: {S} steps")
            start = time.perf_counter()
            _, xs, _, nfe = trajectory(loaded, schedule, n, CURVE_SEED, replace(config, steps=S), {0}, network)
            seconds = time.perf_counter() - start
            points.append(CurvePoint(S, nfe, sample_quality(loaded.config["train"], xs[-1]), seconds))
        path.parent.mkdir(parents=True, exist_ok=True)
        prune_folder(path.parent, math.inf, MAX_CURVE_CACHE_BYTES)  # every (sampler, eta, w) makes a file
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps([asdict(p) for p in points]))
        os.replace(tmp, path)
        return points


def curves_csv(model: str, curves: dict[str, list[CurvePoint]], metric: Metric) -> str:
    """The curves as CSV text: one row per (configuration, step count)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["model", "configuration", "steps", "nfe", metric.name, "seconds"])
    for label, points in curves.items():
        for p in points:
            writer.writerow([model, label, p.steps, p.nfe, f"{p.quality:.6g}", f"{p.seconds:.4f}"])
    return out.getvalue()
