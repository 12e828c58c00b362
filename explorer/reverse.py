"""The reverse (generating) process as the Reverse tab, the CLI and the benchmarks see it.

A run draws x_T ~ N(0, I) for a seed, runs DDPM ancestral sampling with a trained model or
with the ideal denoiser of the training set, and records x_t and the estimate x0_hat at
evenly spaced steps. Steps are the paper's t: T is pure noise, 0 the sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from explorer import data, frames
from explorer.checkpoints import LoadedModel, load_checkpoint, model_roots, resolve_model
from explorer.gaussian import eps_from_x0, ideal_x0
from explorer.limits import MAX_POINTS, check_int
from explorer.metrics import spiral_distance
from explorer.samplers import DDPM_VARIANCES, ddpm_steps
from explorer.schedules import NoiseSchedule, make_schedule

MAX_FRAMES = 200
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

    def frame_index(self, step: object) -> int:
        """The recorded frame nearest to step t."""
        t = check_int("t", step, 0, self.T)
        return int(np.argmin(np.abs(np.asarray(self.steps) - t)))


@lru_cache(maxsize=4)
def load_model(name: str) -> tuple[LoadedModel, NoiseSchedule]:
    """A registry model and its schedule, loaded once."""
    loaded = load_checkpoint(resolve_model(name, model_roots()))
    s = loaded.config["schedule"]
    return loaded, make_schedule(s["name"], s["T"], s["zero_terminal_snr"])


def training_points(loaded: LoadedModel, limit: int) -> torch.Tensor:
    """The model's training set as recorded in its config (its first `limit` points)."""
    train = loaded.config.get("train", {})
    gen = torch.Generator().manual_seed(train.get("seed", loaded.config["seed"]))
    points = data.make_points(loaded.config["dataset"], train.get("n_data", 10_000), train.get("noise", 0.0), gen)
    return points.x[:limit]


def recorded_steps(T: int) -> list[int]:
    """Up to MAX_FRAMES + 1 steps from T down to 0, evenly spaced, both ends included."""
    return sorted({int(s) for s in np.linspace(0, T, min(T, MAX_FRAMES) + 1).round()}, reverse=True)


@lru_cache(maxsize=4)
def run_reverse(settings: ReverseSettings) -> ReverseRun:
    """Sample, recording frames; memoised per setting (a seed always gives the same run)."""
    if settings.variance not in DDPM_VARIANCES:
        raise ValueError(f"unknown DDPM variance {settings.variance!r}; choose from {list(DDPM_VARIANCES)}")
    loaded, schedule = load_model(settings.model)
    limit = MAX_IDEAL_POINTS if settings.ideal else MAX_POINTS
    n = check_int("number of samples", settings.n, 1, limit)
    seed = check_int("seed", settings.seed, 0, 2**31 - 1)
    train = training_points(loaded, IDEAL_TRAIN_POINTS)
    model = loaded.model
    if settings.ideal:
        model = lambda x, t: eps_from_x0(schedule, x, int(t), ideal_x0(schedule, x, int(t), train))  # noqa: E731
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, loaded.config["hyper"]["dim"], generator=gen)
    keep = set(recorded_steps(schedule.T))
    xs, x0s, steps, nfe = [], [], [], 0
    with torch.no_grad():
        for step in ddpm_steps(model, schedule, x, gen, loaded.config["prediction"], settings.variance):
            if step.t + 1 == schedule.T:  # the starting noise, with the first estimate
                xs.append(x.numpy()), x0s.append(step.x0_hat.numpy()), steps.append(schedule.T)
            if step.t_prev + 1 in keep:
                xs.append(step.x.numpy()), x0s.append(step.x0_hat.numpy()), steps.append(step.t_prev + 1)
            nfe = step.nfe
    xs_arr, x0_arr = np.stack(xs), np.stack(x0s)
    ideal = None  # the ideal overlay costs N x M distances a frame: only for modest N
    if n <= MAX_IDEAL_POINTS:
        ideal = np.stack(
            [ideal_x0(schedule, torch.from_numpy(xs_arr[k]), max(s - 1, 0), train).numpy() for k, s in enumerate(steps)]
        )
    distances = None
    if loaded.config["dataset"] == "spiral":
        distances = np.array([float(spiral_distance(torch.from_numpy(f)).mean()) for f in xs_arr])
    return ReverseRun(settings, loaded.config["dataset"], schedule.T, steps, xs_arr, x0_arr, ideal, distances, nfe)


def optimal_reference(run: ReverseRun) -> np.ndarray | None:
    """The 'optimal denoising' reference for the distance curve: every point slides along
    its shortest line to the spiral at constant speed, so the mean distance falls linearly
    from its value at t = T to 0 at t = 0."""
    if run.distances is None:
        return None
    return run.distances[0] * np.asarray(run.steps, dtype=np.float64) / run.T


def path_indices(n: int) -> np.ndarray:
    """Which points get their whole path drawn (a fixed handful, spread over the batch)."""
    return np.linspace(0, n - 1, min(PATHS, n)).round().astype(int)


def point_colors(run: ReverseRun) -> np.ndarray:
    """Colour each sample by where it ends up (its angle around the origin)."""
    final = run.xs[-1]
    return (np.arctan2(final[:, 1], final[:, 0]) + math.pi) / (2 * math.pi)


def animation(run: ReverseRun, n_frames: int, size: int) -> list[np.ndarray]:
    """Side-by-side frames (x_t | x0_hat) at n_frames steps from T to 0."""
    from explorer.forward import POINT_LIM
    from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE

    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF size", size, MIN_GIF_SIZE, MAX_GIF_SIZE)
    color = point_colors(run)
    picks = np.linspace(0, len(run.steps) - 1, n_frames).round().astype(int)
    out = []
    for k in picks:
        t, progress = run.steps[k], 1 - run.steps[k] / run.T
        left = frames.render_points(run.xs[k], color, size, POINT_LIM, f"x_t   t = {t} / {run.T}", progress)
        right = frames.render_points(run.x0s[k], color, size, POINT_LIM, "model's estimate of x_0", progress)
        out.append(frames.hstack_frames([left, right]))
    return out
