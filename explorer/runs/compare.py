"""Samplers side by side: one model, one x_T, two to four sampler configurations.

Each configuration runs from the same seeded x_T, records its trajectory, and is scored by
the model's quality metric (spiral: mean distance to the curve; other point sets: sliced
W1 to held-out data), its exact NFE and its wall time. A run of at most 64 images is too few
for the digits' FD (its fixed n is 297): `score_comparison` draws that many per configuration.
The quality-versus-NFE curve runs each sampler over a fixed ladder of step counts and is
cached on disk per model weights, so it is computed once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from explorer.core.guidance import UNCONDITIONAL, Conditioning
from explorer.evaluation.classes import class_precision
from explorer.evaluation.quality import Metric, metric_for, sample_quality
from explorer.limits import MAX_IMAGES, check_int, clamped_fraction
from explorer.runs.common import MAX_FRAMES, trajectory
from explorer.runs.tuned import has_tuned, with_tuned
from explorer.sampling.registry import DEFAULT_SPACING, SAMPLERS, VP_ONLY, SamplerSettings
from explorer.sampling.tuning import TUNED
from explorer.store.registry import data_bound, is_image_model, load_model

if TYPE_CHECKING:
    from explorer.runs.evaluate import EvaluationRun

MIN_CONFIGS, MAX_CONFIGS = 2, 4


MAX_COMPARE_POINTS = 5000  # four runs of up to 1000 steps each must stay interactive


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
    quality: float | None  # None for images: FD needs FD_N samples (score_comparison)
    precision: float | None = None  # with a class asked for: the share the reference classifier gives it

    def frame_at(self, fraction: float) -> int:
        """The recorded frame at this fraction of the run (0: x_T, 1: the sample)."""
        return int(round(clamped_fraction("the position in the run", fraction) * (len(self.t) - 1)))


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


def run_comparison(settings: CompareSettings) -> Comparison:
    """Run every configuration from the same x_T (the app keeps the result in its RunStore)."""
    loaded, schedule = load_model(settings.model)
    images = is_image_model(loaded)
    settings = validate(settings, schedule.T, images)
    model, label = loaded.network_for(settings.cond), settings.cond.label  # a guided model checks the label
    runs = []
    for config in settings.configs:
        start = time.perf_counter()
        steps, xs, x0s, nfe = trajectory(loaded, schedule, settings.n, settings.seed, config, None, model)
        seconds = time.perf_counter() - start
        keep = _thin(len(steps))
        final = xs[-1]
        precision = None if label is None else class_precision(final, label, loaded.dataset)
        runs.append(SamplerRun(config, [steps[i] for i in keep], torch.stack([xs[i] for i in keep]).numpy(),
                               torch.stack([x0s[i] for i in keep]).numpy(), nfe, seconds,
                               None if images else sample_quality(loaded.dataset, loaded.train.noise, final),
                               precision))  # fmt: skip
    return Comparison(settings, loaded.dataset, "image" if images else "points", schedule.T,
                      metric_for(loaded.dataset), schedule.log_snr.numpy(), runs,
                      loaded.classes)  # fmt: skip


# (enabled, sampler, steps, spacing, eta): the Comparison tab's configuration rows as first shown,
# DDPM's 1000 steps against fast samplers; for a rectified-flow model the variance-preserving-only
# rows become FLOW_ROWS' (sampler, steps, spacing)
DEFAULT_ROWS = [
    (True, "ddpm", 1000, "trailing", 1.0),  # fewer steps from t = T, valid on every process (check_start)
    (True, "ddim", 50, "trailing", 0.0),
    (True, "dpmpp2m", 15, "logsnr", 0.0),
    # the best at 10 NFE (benchmarks/fewstep.py), on the model's tuned timesteps (runs.tuned); a model
    # without them runs the sampler's usual spacing (row_spacing)
    (True, "unipc", 10, "tuned", 0.0),
]
FLOW_ROWS = [("euler", 100, "trailing"), ("heun", 10, "trailing")]


def row_settings(
    model: str, name: str, steps: int, spacing: str, eta: float | None, bound: float | None
) -> SamplerSettings:
    """One configuration row as the sampler settings a comparison and its curves run (with the
    model's tuned timesteps when the spacing is "tuned")."""
    settings = SamplerSettings(name=name, steps=steps, eta=0.0 if eta is None else eta, spacing=spacing, clip_x0=bound)
    return with_tuned(settings, load_model(model)[0]) if spacing == TUNED else settings


def row_spacing(model: str, name: str, steps: int, spacing: str) -> str:
    """A row's spacing on `model`: "tuned" only where the model has tuned timesteps for that sampler and
    step count, else the sampler's usual spacing."""
    if spacing != TUNED or has_tuned(load_model(model)[0], name, steps):
        return spacing
    return DEFAULT_SPACING[name]


def default_configs(model: str) -> list[SamplerSettings]:
    """Every configuration row of the tab as it first shows for `model`, ticked or not, x0_hat
    clipped to the data range (the tab's default): the curves that ship with a checkpoint."""
    flow = load_model(model)[1].kind == "flow"
    rows = [list(row) for row in DEFAULT_ROWS]
    for row, replacement in zip(rows, FLOW_ROWS if flow else [], strict=False):
        if row[1] in VP_ONLY:
            row[1:4] = replacement
    return [row_settings(model, name, steps, row_spacing(model, name, steps, spacing), eta, clip_bound(model))
            for _, name, steps, spacing, eta in rows]  # fmt: skip


def shipped_configs(model: str) -> list[SamplerSettings]:
    """The configurations whose curves ship with a checkpoint (issue 18, section 4): the tab's first
    rows, then every other sampler of the registry as picking it in a row sets it up (its usual
    spacing, its options at their defaults, x0_hat clipped), so any sampler a user picks draws at once.
    A rectified-flow model leaves out the samplers written in the VP chain."""
    configs = default_configs(model)
    flow, bound = load_model(model)[1].kind == "flow", clip_bound(model)
    for name in SAMPLERS:
        taken = any(c.name == name and c.spacing == DEFAULT_SPACING[name] for c in configs)
        if not taken and not (flow and name in VP_ONLY):
            configs.append(row_settings(model, name, 50, DEFAULT_SPACING[name], None, bound))
    return configs


def clip_bound(model: str) -> float:
    """The data range [-B, B] the named model's x0 estimates may be clipped to."""
    return data_bound(load_model(model)[0])


def visited_timesteps(config: SamplerSettings, model: str) -> list[int]:
    """The paper's t (1..T) at which a configuration calls the model (Heun also calls at t_prev)."""
    _, schedule = load_model(model)
    return [t + 1 for t in config.validated(schedule.T).visited(schedule)]


def short_name(settings: SamplerSettings) -> str:
    """The sampler's name without its options, e.g. 'DDIM'."""
    return settings.label().split(" S=")[0]


def curve_label(config: SamplerSettings) -> str:
    """A sampler configuration without its step count, e.g. 'DDIM trailing eta=0'."""
    eta = f" eta={config.eta:g}" if config.name == "ddim" else ""
    return f"{short_name(config)} {config.spacing}{eta}"


def table(comparison: Comparison) -> list[list[object]]:
    """One row per configuration: sampler, steps, spacing, eta, NFE, wall time, quality (3 significant
    figures: the spiral distances of good samplers differ in the fourth decimal) and
    (with a class asked for) the class precision."""
    return [[short_name(r.settings), r.settings.resolved_steps(comparison.T), r.settings.spacing,
             r.settings.eta if r.settings.name == "ddim" else "", r.nfe, round(r.seconds * 1000),
             "" if r.quality is None else float(f"{r.quality:.3g}"),
             "" if r.precision is None else round(r.precision, 3)]
            for r in comparison.runs]  # fmt: skip


def score_comparison(settings: CompareSettings) -> list[EvaluationRun]:
    """Each configuration's FD (with its floor), precision, recall and memorised share on FD_N samples
    drawn in chunks from the comparison's seed (chunk 0 is the recorded run's x_T; runs.evaluate)."""
    from explorer.runs.evaluate import EvaluateSettings, score_images

    loaded, schedule = load_model(settings.model)
    settings = validate(settings, schedule.T, is_image_model(loaded))
    return [score_images(EvaluateSettings(settings.model, 0, settings.seed, config, settings.cond, clip=False))
            for config in settings.configs]  # fmt: skip
