"""Latent space: DDIM inversion, reconstruction and interpolation.

A deterministic sampler is an invertible map between data and noise. Encoding runs the
eta = 0 update forwards, x_0 -> x_T, over the same S timesteps that decoding visits
backwards; the round trip x_0 -> x_T -> x_0 is exact only in the limit of small steps,
and its error measures the discretisation (Song et al. 2021, sec. 5.4 and Table 2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from explorer import data, frames
from explorer.checkpoints import LoadedModel
from explorer.reverse import is_image_model, training_set
from explorer.samplers import Denoiser, SamplerSettings, euler_steps, last, model_estimates, scales, timesteps
from explorer.schedules import NoiseSchedule

INVERT_SPACING = "linspace"  # visits both index 0 (nearest the data) and T - 1 (nearest pure noise)
ERROR_STEPS = (5, 10, 20, 50, 100, 200)
MAX_INVERT_POINTS = 5000
MAX_MORPH_FRAMES = 64


@torch.no_grad()
def ddim_invert(
    model: Denoiser, schedule: NoiseSchedule, x0: torch.Tensor, prediction: str = "eps", steps: int = 50,
    spacing: str = INVERT_SPACING, keep: bool = False,
) -> tuple[torch.Tensor, list[torch.Tensor]]:  # fmt: skip
    """Encode x0 to x_T with the eta = 0 DDIM update run forwards over the S timesteps of
    `spacing` (ascending): x_{t'} = a' x0_hat(x_t, t) + s' eps_hat(x_t, t). The first step
    starts at the data, where the model is not defined; it is evaluated at the lowest
    visited timestep (the usual x_t ~ x_{t-1} approximation of DDIM inversion).
    Returns x_T and, if keep, every state from x0 up."""
    ascending = timesteps(schedule.T, steps, spacing, schedule)[::-1]
    x, states = x0, [x0] if keep else []
    for k, t_next in enumerate(ascending):
        t_eval = ascending[max(k - 1, 0)]
        x0_hat, eps_hat = model_estimates(model, schedule, x, t_eval, prediction, None)
        a, s = scales(schedule, t_next)
        x = a * x0_hat + s * eps_hat
        if keep:
            states.append(x)
    return x, states


def ddim_decode(
    model: Denoiser, schedule: NoiseSchedule, x_T: torch.Tensor, prediction: str = "eps", steps: int = 50,
    spacing: str = INVERT_SPACING, clip_x0: float | None = None,
) -> torch.Tensor:  # fmt: skip
    """Decode x_T to x_0 with deterministic DDIM (eta = 0), that is Euler on the flow ODE, over the same timesteps."""
    return last(euler_steps(model, schedule, x_T, prediction, steps, spacing, clip_x0)).x


@dataclass(frozen=True)
class RoundTrip:
    x0: torch.Tensor
    x_T: torch.Tensor
    x0_rec: torch.Tensor

    def mse(self) -> float:
        """Mean squared error per dimension of the reconstruction."""
        return float((self.x0_rec - self.x0).pow(2).mean())

    def psnr(self, data_range: float = 2.0) -> float:
        """Peak signal-to-noise ratio in dB for data spanning `data_range` ([-1, 1]: 2)."""
        mse = self.mse()
        return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


def round_trip(
    model: Denoiser, schedule: NoiseSchedule, x0: torch.Tensor, prediction: str = "eps", steps: int = 50,
    spacing: str = INVERT_SPACING, clip_x0: float | None = None,
) -> RoundTrip:  # fmt: skip
    """x0 -> x_T -> x0_rec with the same S steps both ways (x0_hat clipped while decoding, if asked)."""
    x_T, _ = ddim_invert(model, schedule, x0, prediction, steps, spacing)
    return RoundTrip(x0, x_T, ddim_decode(model, schedule, x_T, prediction, steps, spacing, clip_x0))


def error_curve(
    model: Denoiser, schedule: NoiseSchedule, x0: torch.Tensor, prediction: str = "eps",
    steps: tuple[int, ...] = ERROR_STEPS, clip_x0: float | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[tuple[int, float]]:  # fmt: skip
    """Round-trip MSE per dimension at each S (those above T are skipped)."""
    out = []
    ladder = [s for s in steps if s <= schedule.T]
    for i, S in enumerate(ladder):
        if progress:
            progress(i / len(ladder), f"round trip with {S} steps")
        out.append((S, round_trip(model, schedule, x0, prediction, S, clip_x0=clip_x0).mse()))
    return out


HISTOGRAM_RANGE, HISTOGRAM_BINS = 4.0, 80


def latent_histogram(x_T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every latent coordinate pooled: (bin edges, density, grid, the N(0, 1) density on the grid)."""
    from explorer.gaussian import standard_normal_pdf

    edges = np.linspace(-HISTOGRAM_RANGE, HISTOGRAM_RANGE, HISTOGRAM_BINS + 1)
    density, _ = np.histogram(x_T.reshape(-1).astype(np.float64), bins=edges, density=True)
    grid = np.linspace(-HISTOGRAM_RANGE, HISTOGRAM_RANGE, 201)
    return edges, density, grid, standard_normal_pdf(torch.from_numpy(grid)).numpy()


def slerp(z0: torch.Tensor, z1: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation per item (flattened): sin((1-a) theta)/sin(theta) z0 + sin(a theta)/sin(theta) z1,
    theta the angle between z0 and z1 (Shoemake 1985); lerp where they are (anti)parallel."""
    a = torch.as_tensor(alpha, dtype=z0.dtype, device=z0.device)
    flat0, flat1 = z0.reshape(len(z0), -1), z1.reshape(len(z1), -1)
    cos = (flat0 * flat1).sum(1) / (flat0.norm(dim=1) * flat1.norm(dim=1)).clamp_min(1e-12)
    theta = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(theta)
    safe = sin.abs() > 1e-6
    w0 = torch.where(safe, torch.sin((1 - a) * theta) / sin.where(safe, 1.0), 1 - a)
    w1 = torch.where(safe, torch.sin(a * theta) / sin.where(safe, 1.0), a)
    shape = (-1,) + (1,) * (z0.dim() - 1)
    return w0.reshape(shape) * z0 + w1.reshape(shape) * z1


def lerp(z0: torch.Tensor, z1: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    return (1 - alpha) * z0 + alpha * z1


INTERPOLATIONS = {"slerp": slerp, "lerp": lerp}


@dataclass
class Morph:
    """Decoded interpolation paths between two latents, for each method."""

    alphas: np.ndarray  # (F,)
    latents: dict[str, np.ndarray]  # method -> (F, ...) latents
    decoded: dict[str, np.ndarray]  # method -> (F, ...) decoded data
    norms: dict[str, np.ndarray]  # method -> (F,) |z| / sqrt(D), about 1 in the typical set


def interpolate(
    model: Denoiser, schedule: NoiseSchedule, a: torch.Tensor, b: torch.Tensor, prediction: str = "eps",
    steps: int = 50, frames: int = 9, clip_x0: float | None = None,
) -> Morph:  # fmt: skip
    """Invert two items (each (1, ...)), walk between their latents by slerp and by lerp,
    and decode every point of both paths (one batch per method)."""
    from explorer.limits import check_int

    frames = check_int("interpolation frames", frames, 2, MAX_MORPH_FRAMES)
    z, _ = ddim_invert(model, schedule, torch.cat([a, b]), prediction, steps)
    alphas = torch.linspace(0, 1, frames, dtype=z.dtype, device=z.device)
    morph = Morph(alphas.cpu().numpy(), {}, {}, {})
    for name, fn in INTERPOLATIONS.items():
        path = torch.cat([fn(z[:1], z[1:], float(alpha)) for alpha in alphas])
        decoded = ddim_decode(model, schedule, path, prediction, steps, clip_x0=clip_x0)
        morph.latents[name] = path.cpu().numpy()
        morph.decoded[name] = decoded.cpu().numpy()
        morph.norms[name] = (path.reshape(frames, -1).norm(dim=1) / math.sqrt(path[0].numel())).cpu().numpy()
    return morph


def data_items(loaded: LoadedModel, n: int, seed: int) -> torch.Tensor:
    """Data to encode: n points drawn afresh from the model's dataset (held out from its
    training set), or n of its training images picked by the seed."""
    from explorer.limits import MAX_IMAGES, check_int

    images = is_image_model(loaded)
    n = check_int("number of items", n, 1, MAX_IMAGES if images else MAX_INVERT_POINTS)
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**31 - 1))
    train = loaded.config["train"]
    if images:
        pool = training_set(loaded, 100_000)
        return pool[torch.randperm(len(pool), generator=gen)[:n]]
    return data.make_points(train["dataset"], n, train.get("noise", 0.0), gen).x


def parse_item(spec: object, loaded: LoadedModel, pool: torch.Tensor) -> torch.Tensor:
    """One item (1, ...) from a spec: an index into `pool`, 'x, y' coordinates (points), or an
    image file's path (images: resized to the model's side, grey or RGB as it was trained)."""
    text = str(spec).strip()
    if not text:
        raise ValueError("give an item: an index, 'x, y' for a point, or an image file")
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(pool):
            raise ValueError(f"item index must be between 0 and {len(pool) - 1}, got {index}")
        return pool[index : index + 1]
    hyper = loaded.config["hyper"]
    if not is_image_model(loaded):
        try:
            values = [float(v) for v in text.replace(";", ",").split(",")]
        except ValueError:
            raise ValueError(f"a point is 'x, y' (two numbers), got {text!r}") from None
        if len(values) != hyper["dim"] or not all(math.isfinite(v) and abs(v) <= 10 for v in values):
            raise ValueError(f"a point is {hyper['dim']} finite numbers within [-10, 10], got {text!r}")
        return torch.tensor([values], dtype=torch.float32)
    return data.load_image(text, hyper["size"], grey=hyper["channels"] == 1)


def morph_frames(morph: Morph, size: int, background: np.ndarray | None = None) -> list[np.ndarray]:
    """One frame per interpolation step: the slerp and lerp decodings side by side. Points: the
    path so far over the data cloud (dark); images: the decoded image."""
    from explorer.forward import POINT_LIM

    out = []
    for k, alpha in enumerate(morph.alphas):
        panels = []
        for i, name in enumerate(INTERPOLATIONS):
            caption = f"{name}  alpha = {alpha:.2f}  |z|/sqrt(D) = {morph.norms[name][k]:.2f}"
            decoded = morph.decoded[name]
            if decoded.ndim == 2:
                cloud = background if background is not None else np.zeros((0, decoded.shape[1]))
                points = np.concatenate([cloud, decoded[: k + 1]])
                color = np.concatenate([np.full(len(cloud), 0.05), np.full(k + 1, 0.6 + 0.35 * i)])
                panels.append(frames.render_points(points, color, size, POINT_LIM, caption, float(alpha)))
            else:
                panels.append(frames.render_images(decoded[k : k + 1], size, caption, float(alpha)))
        out.append(frames.hstack_frames(panels))
    return out


def morph_strip(morph: Morph, cell: int = 48, gap: int = 4) -> np.ndarray:
    """Images only: a two-row strip, slerp above lerp, one column per interpolation step."""
    rows = []
    for name in INTERPOLATIONS:
        cells = [frames.image_grid(image[None], cell, gap=0) for image in morph.decoded[name]]
        spacer = np.full((cell, gap, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([c for pair in zip(cells, [spacer] * len(cells), strict=True) for c in pair][:-1],
                                   axis=1))  # fmt: skip
    return np.concatenate([rows[0], np.full((gap, rows[0].shape[1], 3), 255, dtype=np.uint8), rows[1]])


# ---------------------------------------------------------------- the Latent space tab's runs

ERROR_CURVE_ITEMS = {"points": 500, "image": 16}  # items the round-trip-error curve is measured on
PATH_COUNT = 24  # inversion paths drawn for points


@dataclass(frozen=True)
class LatentSettings:
    """One inversion (hashable: it keys the cache). `upload` replaces the drawn items by one image."""

    model: str
    steps: int = 50
    n: int = 1000
    seed: int = 0
    upload: str | None = None


@dataclass
class InvertRun:
    settings: LatentSettings
    kind: str  # "points" or "image"
    x0: np.ndarray
    x_T: np.ndarray
    x0_rec: np.ndarray
    paths: np.ndarray | None  # (P, S + 1, 2) inversion paths of a few points, data first
    mse: float
    psnr: float
    errors: list[tuple[int, float]]  # round-trip MSE against S


def _model(name: str) -> tuple[LoadedModel, NoiseSchedule, str, float]:
    from explorer.reverse import data_bound, load_model

    loaded, schedule = load_model(name)
    return loaded, schedule, loaded.config["prediction"], data_bound(loaded)


@lru_cache(maxsize=4)
def run_invert(settings: LatentSettings) -> InvertRun:
    """Invert the items, decode them back, and measure the round trip at several S."""
    from explorer.limits import check_int

    loaded, schedule, prediction, bound = _model(settings.model)
    steps = check_int("steps", settings.steps, 1, schedule.T)
    if settings.upload:
        x0 = parse_item(settings.upload, loaded, torch.empty(0))
    else:
        x0 = data_items(loaded, settings.n, settings.seed)
    x_T, states = ddim_invert(loaded.model, schedule, x0, prediction, steps, keep=True)
    x0_rec = ddim_decode(loaded.model, schedule, x_T, prediction, steps, clip_x0=bound)
    trip = RoundTrip(x0, x_T, x0_rec)
    kind = "image" if is_image_model(loaded) else "points"
    paths = None
    if kind == "points":
        pick = np.linspace(0, len(x0) - 1, min(PATH_COUNT, len(x0))).round().astype(int)
        paths = torch.stack(states)[:, pick].permute(1, 0, 2).numpy()
    errors = error_curve(loaded.model, schedule, x0[: ERROR_CURVE_ITEMS[kind]], prediction, clip_x0=bound)
    return InvertRun(settings, kind, x0.numpy(), x_T.numpy(), x0_rec.numpy(), paths, trip.mse(), trip.psnr(), errors)


@dataclass(frozen=True)
class InterpolationSettings:
    model: str
    a: str = "0"
    b: str = "1"
    steps: int = 50
    frames: int = 9
    n: int = 1000  # items drawn by the seed, which indices refer to
    seed: int = 0


@lru_cache(maxsize=4)
def run_interpolation(settings: InterpolationSettings) -> tuple[Morph, np.ndarray]:
    """The morph between items a and b, and the drawn items (the cloud the points are drawn over)."""
    from explorer.limits import check_int

    loaded, schedule, prediction, bound = _model(settings.model)
    steps = check_int("steps", settings.steps, 1, schedule.T)
    pool = data_items(loaded, settings.n, settings.seed)
    a, b = parse_item(settings.a, loaded, pool), parse_item(settings.b, loaded, pool)
    return interpolate(loaded.model, schedule, a, b, prediction, steps, settings.frames, bound), pool.numpy()


# ---------------------------------------------------------------- straight and curved paths

FEW_STEPS = (1, 2, 5, 10)
PATH_STEPS = 200  # Euler steps for the drawn trajectories: fine enough that their shape is the ODE's


def straightness(paths: np.ndarray) -> float:
    """How far trajectories (N, K, D), each from x_T to x_0, stray from the chords between their
    ends: the mean distance of their points to the chord, over the mean chord length (a ratio
    of means, so a path whose ends nearly meet cannot dominate). 0 for straight lines."""
    start, end = paths[:, :1], paths[:, -1:]
    chord = end - start  # (N, 1, D)
    length2 = (chord**2).sum(-1, keepdims=True)
    along = np.clip(((paths - start) * chord).sum(-1, keepdims=True) / np.maximum(length2, 1e-12), 0.0, 1.0)
    distance = np.linalg.norm(paths - (start + along * chord), axis=-1).mean(1)  # (N,)
    return float(distance.mean() / max(float(np.sqrt(length2[:, 0, 0]).mean()), 1e-12))


def ode_paths(
    model: Denoiser, schedule: NoiseSchedule, x_T: torch.Tensor, prediction: str, steps: int = PATH_STEPS
) -> np.ndarray:
    """Trajectories (N, S + 1, ...) of the probability-flow ODE by Euler (DDIM, eta = 0) over
    uniformly spaced timesteps from T, x_T first."""
    states = [x_T] + [step.x for step in euler_steps(model, schedule, x_T, prediction, steps, "trailing")]
    return torch.stack(states, 1).cpu().numpy()


@dataclass(frozen=True)
class FlowComparisonSettings:
    """Two or three models of the same data (a diffusion model, a rectified flow, its reflow), one x_T."""

    models: tuple[str, ...]
    seed: int = 0


@dataclass
class FlowComparison:
    settings: FlowComparisonSettings
    kind: str  # "points" or "image"
    metric: str
    higher_is_better: bool
    paths: dict[str, np.ndarray]  # model -> (N, K, ...) Euler trajectories, x_T first
    straightness: dict[str, float]
    samples: dict[str, dict[int, np.ndarray]]  # model -> steps -> final samples
    quality: dict[str, dict[int, float]]  # model -> steps -> the dataset's quality metric


FLOW_PATHS = {"points": 256, "image": 64}  # trajectories measured for straightness
FLOW_QUALITY = {"points": 2000, "image": 64}  # samples scored at each step count


@lru_cache(maxsize=2)
def run_flow_comparison(settings: FlowComparisonSettings) -> FlowComparison:
    """Euler trajectories (straightness) and few-step quality (1, 2, 5, 10 steps, uniformly spaced
    from t = T) of both models, every run from the same seeded x_T."""
    from explorer.compare import metric_for, sample_quality
    from explorer.reverse import trajectory
    from explorer.training import sample_shape

    if not 2 <= len(settings.models) <= 3 or len(set(settings.models)) != len(settings.models):
        raise ValueError("compare two or three different models")
    models = {name: _model(name) for name in settings.models}
    datasets = {loaded.config["dataset"] for loaded, *_ in models.values()}
    if len(datasets) != 1:
        raise ValueError(f"compare two models of the same data; these learned {sorted(datasets)}")
    if len({str(loaded.config["hyper"]) for loaded, *_ in models.values() if is_image_model(loaded)}) > 1:
        raise ValueError("the two image models must produce images of the same shape")
    first = next(iter(models.values()))[0]
    kind = "image" if is_image_model(first) else "points"
    metric = metric_for(first.config["dataset"])
    gen = torch.Generator().manual_seed(settings.seed)
    x_T = torch.randn(sample_shape(first.config["hyper"], FLOW_PATHS[kind]), generator=gen)
    out = FlowComparison(settings, kind, metric.name, metric.higher_is_better, {}, {}, {}, {})
    for name, (loaded, schedule, prediction, bound) in models.items():
        paths = ode_paths(loaded.model, schedule, x_T, prediction)
        out.paths[name] = paths
        out.straightness[name] = straightness(paths.reshape(len(paths), paths.shape[1], -1))
        out.samples[name], out.quality[name] = {}, {}
        for S in FEW_STEPS:
            sampler = SamplerSettings("euler", S, spacing="trailing", clip_x0=bound)
            _, xs, _, _ = trajectory(loaded, schedule, FLOW_QUALITY[kind], settings.seed, sampler, {0})
            out.samples[name][S] = xs[-1].numpy()
            out.quality[name][S] = sample_quality(loaded.config["train"], xs[-1])
    return out
