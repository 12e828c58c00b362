"""The reverse (generating) process as the Reverse tab, the CLI and the benchmarks see it.

A run draws x_T ~ N(0, I) for a seed, runs DDPM ancestral sampling with a trained model or
with the ideal denoiser of the training set, and records x_t and the estimate x0_hat at
evenly spaced steps. Steps are the paper's t: T is pure noise, 0 the sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.core.guidance import UNCONDITIONAL, Conditioning
from explorer.core.ideal import ideal_x0
from explorer.evaluation.classes import class_precision
from explorer.evaluation.metrics import spiral_distance
from explorer.limits import check_int
from explorer.runs.common import MAX_FRAMES, training_set, trajectory
from explorer.sampling.gaussian import DDPM_VARIANCES
from explorer.sampling.registry import reference_sampler
from explorer.store.registry import is_image_model, load_model

MAX_IDEAL_POINTS = 2000  # the ideal denoiser compares every sample with every training point


IDEAL_TRAIN_POINTS = 2000


PATHS = 8  # points whose whole path is drawn


@dataclass(frozen=True)
class ReverseSettings:
    """Everything that fixes a reverse run (hashable: it keys the cache)."""

    model: str
    n: int = 1000
    seed: int = 0
    variance: str = "beta_tilde"
    ideal: bool = False  # sample with the ideal denoiser instead of the network
    cond: Conditioning = UNCONDITIONAL  # class-conditional models: the class asked for and the guidance scale


@dataclass
class ReverseRun:
    """A recorded trajectory: frames at steps `steps` (T first, 0 last)."""

    settings: ReverseSettings
    dataset: str
    T: int
    steps: list[int]
    xs: np.ndarray  # (K, N, D) x_t at each recorded step
    x0s: np.ndarray  # (K, N, D) x0_hat made at that step (at t = T: the first estimate)
    ideal_x0s: np.ndarray | None  # (K, N, D) the ideal x0_hat for the same x_t (points only)
    distances: np.ndarray | None  # (K,) mean distance of x_t to the spiral
    nfe: int
    kind: str = "points"  # or "image"
    commitment: np.ndarray | None = None  # (K,) share of x0_hat already classified as the final digit
    classes: tuple[str, ...] = ()  # a class-conditional model's class names
    precision: float | None = None  # with a class asked for: the share of samples the reference classifier gives it

    def frame_index(self, step: object) -> int:
        """The recorded frame nearest to step t."""
        t = check_int("t", step, 0, self.T)
        return int(np.argmin(np.abs(np.asarray(self.steps) - t)))


def recorded_steps(T: int) -> list[int]:
    """Up to MAX_FRAMES + 1 steps from T down to 0, evenly spaced, both ends included."""
    return sorted({int(s) for s in np.linspace(0, T, min(T, MAX_FRAMES) + 1).round()}, reverse=True)


def run_reverse(settings: ReverseSettings) -> ReverseRun:
    """Sample, recording frames (a seed always gives the same run; the app keeps runs in its RunStore)."""
    if settings.variance not in DDPM_VARIANCES:
        raise ValueError(f"unknown DDPM variance {settings.variance!r}; choose from {list(DDPM_VARIANCES)}")
    loaded, schedule = load_model(settings.model)
    if settings.ideal and settings.n > MAX_IDEAL_POINTS:
        raise ValueError(f"the ideal denoiser compares each sample with the training set: at most {MAX_IDEAL_POINTS}")
    cond = settings.cond
    model, prediction = loaded.network_for(cond), None  # a guided model checks the label
    if settings.ideal and cond.label is not None and cond.scale != 1.0:
        raise ValueError(
            "the ideal denoiser of a class samples that class exactly (w = 1): set w to 1, or "
            "untick the ideal denoiser to see guidance"
        )
    # the ideal reference of a class-conditional run is the ideal denoiser of that class's data
    train = training_set(loaded, IDEAL_TRAIN_POINTS, cond.label if cond.scale != 0.0 else None)
    if settings.ideal:  # the ideal denoiser predicts x0 itself
        model, prediction = (lambda x, t: ideal_x0(schedule, x, int(t), train)), "x0"  # noqa: E731
    steps, xs, x0s, nfe = trajectory(
        loaded,
        schedule,
        settings.n,
        settings.seed,
        reference_sampler(schedule, settings.variance),
        set(recorded_steps(schedule.T)),
        model,
        prediction=prediction,
    )
    ideal = None  # the ideal overlay costs N x M distances a frame: only for modest N
    if settings.n <= MAX_IDEAL_POINTS:
        ideal = np.stack([ideal_x0(schedule, x, max(s - 1, 0), train).numpy() for s, x in zip(steps, xs, strict=True)])
    distances = None
    if loaded.dataset == "spiral":
        distances = np.array([float(spiral_distance(x).mean()) for x in xs])
    commitment = None
    if loaded.dataset == "digits":
        from explorer.evaluation.digits import predict_digits

        final = predict_digits(xs[-1])
        commitment = np.array([float((predict_digits(x0) == final).float().mean()) for x0 in x0s])
    precision = None
    if cond.label is not None:
        precision = class_precision(xs[-1], cond.label, loaded.dataset)
    kind = "image" if is_image_model(loaded) else "points"
    return ReverseRun(settings, loaded.dataset, schedule.T, steps, torch.stack(xs).numpy(),
                      torch.stack(x0s).numpy(), ideal, distances, nfe, kind, commitment,
                      loaded.classes, precision)  # fmt: skip


def optimal_reference(run: ReverseRun) -> np.ndarray | None:
    """The 'optimal denoising' reference for the distance curve: every point slides along
    its shortest line to the spiral at constant speed, so the mean distance falls linearly
    from its value at t = T to 0 at t = 0."""
    if run.distances is None:
        return None
    return run.distances[0] * np.asarray(run.steps, dtype=np.float64) / run.T
