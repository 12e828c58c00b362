"""The reverse (generating) process as the Reverse tab, the CLI and the benchmarks see it.

A run draws x_T ~ N(0, I) for a seed, runs DDPM ancestral sampling with a trained model or
with the ideal denoiser of the training set, and records x_t and the estimate x0_hat at
evenly spaced steps. Steps are the paper's t: T is pure noise, 0 the sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from explorer import frames
from explorer.checkpoints import LoadedModel, load_checkpoint, model_roots, resolve_model
from explorer.gaussian import ideal_x0
from explorer.guidance import UNCONDITIONAL, Conditioning, class_precision, config_classes
from explorer.limits import MAX_IMAGES, MAX_POINTS, check_int
from explorer.metrics import spiral_distance
from explorer.samplers import DDPM_VARIANCES, SamplerSettings, reference_sampler, sample_steps
from explorer.schedules import NoiseSchedule, make_schedule
from explorer.training import TrainConfig, labelled_training_data, sample_shape

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


@lru_cache(maxsize=4)
def load_model(name: str) -> tuple[LoadedModel, NoiseSchedule]:
    """A registry model and its schedule, loaded once."""
    loaded = load_checkpoint(resolve_model(name, model_roots()))
    if "discrete" in loaded.config:
        raise ValueError(f"{name!r} is a discrete (D3PM) model: open it in the Discrete (D3PM) tab")
    s = loaded.config["schedule"]
    return loaded, make_schedule(s["name"], s["T"], s["zero_terminal_snr"])


def training_set(loaded: LoadedModel, limit: int, label: int | None = None) -> torch.Tensor:
    """The model's training set, rebuilt from the run settings in its config (at most `limit`
    items; with a label, only that class's)."""
    train = loaded.config.get("train")
    if not isinstance(train, dict):
        raise ValueError(f"model {loaded.name!r} does not record its training settings")
    try:
        config = TrainConfig(**train)
    except TypeError as error:
        raise ValueError(f"model {loaded.name!r} records unknown training settings ({error})") from None
    x, labels = labelled_training_data(config)
    if label is not None:
        if labels is None:
            raise ValueError(f"model {loaded.name!r} was trained on unlabelled data: it has no classes")
        x = x[labels == label]
    return x[:limit]


def is_image_model(loaded: LoadedModel) -> bool:
    return "dim" not in loaded.config["hyper"]


# x0_hat clipping bounds: images live in [-1, 1]; every point set is scaled into [-1, 1], kept with a margin
CLIP_BOUNDS = {"image": 1.0, "points": 1.5}


def data_bound(loaded: LoadedModel) -> float:
    """B such that the model's data lie in [-B, B]: where x0_hat may be clipped."""
    return CLIP_BOUNDS["image" if is_image_model(loaded) else "points"]


@torch.no_grad()
def trajectory(
    loaded: LoadedModel, schedule: NoiseSchedule, n: int, seed: int, sampler: SamplerSettings,
    keep: set[int] | None, model: Any = None, device: torch.device | str = "cpu", prediction: str | None = None,
) -> tuple[list[int], list[torch.Tensor], list[torch.Tensor], int]:  # fmt: skip
    """Sample from x_T ~ N(0, I) (seeded), recording (x_t, x0_hat) at the steps in `keep`
    (paper's t; T is recorded with the first estimate; None records every step the sampler
    visits). `model` and `prediction` replace the checkpoint's network and its output type.
    Returns steps, xs, x0s, NFE."""
    keep_all = keep is None
    keep = keep or set()
    limit = MAX_IMAGES if is_image_model(loaded) else MAX_POINTS
    n = check_int("number of samples", n, 1, limit)
    gen = torch.Generator(device=device).manual_seed(check_int("seed", seed, 0, 2**31 - 1))
    x = torch.randn(sample_shape(loaded.config["hyper"], n), generator=gen, device=device)
    steps, xs, x0s, nfe = [], [], [], 0
    first = True
    prediction = prediction or loaded.config["prediction"]
    for step in sample_steps(sampler, model or loaded.model, schedule, x, gen, prediction):
        if first and (keep_all or schedule.T in keep):
            steps.append(schedule.T), xs.append(x.cpu()), x0s.append(step.x0_hat.cpu())
        first = False
        if keep_all or step.t_prev + 1 in keep or step.t_prev == -1:
            steps.append(step.t_prev + 1), xs.append(step.x.cpu()), x0s.append(step.x0_hat.cpu())
        nfe = step.nfe
    return steps, xs, x0s, nfe


def recorded_steps(T: int) -> list[int]:
    """Up to MAX_FRAMES + 1 steps from T down to 0, evenly spaced, both ends included."""
    return sorted({int(s) for s in np.linspace(0, T, min(T, MAX_FRAMES) + 1).round()}, reverse=True)


@lru_cache(maxsize=4)
def run_reverse(settings: ReverseSettings) -> ReverseRun:
    """Sample, recording frames; memoised per setting (a seed always gives the same run)."""
    if settings.variance not in DDPM_VARIANCES:
        raise ValueError(f"unknown DDPM variance {settings.variance!r}; choose from {list(DDPM_VARIANCES)}")
    loaded, schedule = load_model(settings.model)
    if settings.ideal and settings.n > MAX_IDEAL_POINTS:
        raise ValueError(f"the ideal denoiser compares each sample with the training set: at most {MAX_IDEAL_POINTS}")
    cond = settings.cond
    model, prediction = cond.wrap(loaded.model), None  # checks the label against the model
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
    if loaded.config["dataset"] == "spiral":
        distances = np.array([float(spiral_distance(x).mean()) for x in xs])
    commitment = None
    if loaded.config["dataset"] == "digits":
        from explorer.classifier import predict_digits

        final = predict_digits(xs[-1])
        commitment = np.array([float((predict_digits(x0) == final).float().mean()) for x0 in x0s])
    precision = None
    if cond.label is not None:
        precision = class_precision(xs[-1], cond.label, loaded.config["dataset"])
    kind = "image" if is_image_model(loaded) else "points"
    return ReverseRun(settings, loaded.config["dataset"], schedule.T, steps, torch.stack(xs).numpy(),
                      torch.stack(x0s).numpy(), ideal, distances, nfe, kind, commitment,
                      config_classes(loaded.config), precision)  # fmt: skip


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


def strip(run: ReverseRun, steps: list[int], size: int) -> np.ndarray:
    """x_t (top) and x0_hat (bottom) at the recorded frames nearest to the given steps."""
    picks = [run.frame_index(step) for step in steps]
    color = point_colors(run) if run.kind == "points" else None
    rows = []
    for source, label in ((run.xs, "x_t"), (run.x0s, "x0_hat")):
        rows.append(frames.hstack_frames([panel_frame(source[k], color, size, f"{label}  t = {run.steps[k]}",
                                                      1 - run.steps[k] / run.T) for k in picks]))  # fmt: skip
    gap = np.full((6, rows[0].shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([rows[0], gap, rows[1]], axis=0)


def point_colors(run: ReverseRun) -> np.ndarray:
    """Colour each sample by where it ends up (its angle around the origin)."""
    return frames.angle_colors(run.xs[-1])


def panel_frame(x: np.ndarray, color: np.ndarray | None, size: int, caption: str, progress: float) -> np.ndarray:
    """One captioned panel: points on the fixed axes, or an image grid."""
    from explorer.forward import POINT_LIM

    if x.ndim == 2:
        return frames.render_points(x, color, size, POINT_LIM, caption, progress)
    return frames.render_images(x, size, caption, progress)


def animation(run: ReverseRun, n_frames: int, size: int) -> list[np.ndarray]:
    """Side-by-side frames (x_t | x0_hat) at n_frames steps from T to 0."""
    from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE

    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF size", size, MIN_GIF_SIZE, MAX_GIF_SIZE)
    color = point_colors(run) if run.kind == "points" else None
    picks = np.linspace(0, len(run.steps) - 1, n_frames).round().astype(int)
    out = []
    for k in picks:
        t, progress = run.steps[k], 1 - run.steps[k] / run.T
        left = panel_frame(run.xs[k], color, size, f"x_t   t = {t} / {run.T}", progress)
        right = panel_frame(run.x0s[k], color, size, "model's estimate of x_0", progress)
        out.append(frames.hstack_frames([left, right]))
    return out
