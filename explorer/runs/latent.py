"""The Latent space tab's runs: invert drawn or uploaded items and decode them back, and morphs between two."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from explorer import data
from explorer.limits import MAX_FIELD_CHARS, quote
from explorer.runs.common import model_parts, training_set
from explorer.sampling.inversion import (
    REFINE_CURVES,
    REFINE_ITERATIONS,
    Morph,
    RoundTrip,
    ddim_decode,
    ddim_invert,
    error_curve,
    interpolate,
    round_trip,
)
from explorer.store.registry import ModelHandle, is_image_model

MAX_INVERT_POINTS = 5000


HISTOGRAM_RANGE, HISTOGRAM_BINS = 4.0, 80


def latent_histogram(x_T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every latent coordinate pooled: (bin edges, density, grid, the N(0, 1) density on the grid)."""
    from explorer.core.gaussian import standard_normal_pdf

    edges = np.linspace(-HISTOGRAM_RANGE, HISTOGRAM_RANGE, HISTOGRAM_BINS + 1)
    density, _ = np.histogram(x_T.reshape(-1).astype(np.float64), bins=edges, density=True)
    grid = np.linspace(-HISTOGRAM_RANGE, HISTOGRAM_RANGE, 201)
    return edges, density, grid, standard_normal_pdf(torch.from_numpy(grid)).numpy()


def data_items(loaded: ModelHandle, n: int, seed: int) -> torch.Tensor:
    """Data to encode: n points drawn afresh from the model's dataset (held out from its
    training set), or n of its training images picked by the seed."""
    from explorer.limits import MAX_IMAGES, check_int

    images = is_image_model(loaded)
    n = check_int("number of items", n, 1, MAX_IMAGES if images else MAX_INVERT_POINTS)
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0, 2**31 - 1))
    train = loaded.train
    if images:
        pool = training_set(loaded, 100_000)
        return pool[torch.randperm(len(pool), generator=gen)[:n]]
    return data.make_points(train.dataset, n, train.noise, gen).x


def parse_item(spec: object, loaded: ModelHandle, pool: torch.Tensor, upload: str | None = None) -> torch.Tensor:
    """One item (1, ...): an uploaded image (resized to the model's side, grey or RGB as it was trained),
    else from the typed spec: an index into `pool`, or 'x, y' coordinates (points). Typed text is never
    read as a file name: on a server it would name the server's files."""
    hyper = loaded.hyper
    if upload:
        if not is_image_model(loaded):
            raise ValueError("this is a point model: give an index or 'x, y', not an image")
        return data.load_image(upload, hyper["size"], grey=hyper["channels"] == 1)
    text = str(spec).strip()
    if len(text) > MAX_FIELD_CHARS:
        raise ValueError(f"an item is an index or 'x, y': at most {MAX_FIELD_CHARS} characters, got {len(text):,}")
    if not text:
        raise ValueError("give an item: an index, 'x, y' for a point, or upload an image")
    if re.fullmatch(r"-?[0-9]{1,18}", text):  # ASCII digits only: int() would take '²' or 10,000 digits
        index = int(text)
        if not 0 <= index < len(pool):
            raise ValueError(f"item index must be between 0 and {len(pool) - 1}, got {index}")
        return pool[index : index + 1]
    if not is_image_model(loaded):
        try:
            values = [float(v) for v in text.replace(";", ",").split(",")]
        except ValueError:
            raise ValueError(f"a point is 'x, y' (two numbers), got {quote(text)}") from None
        if len(values) != hyper["dim"] or not all(math.isfinite(v) and abs(v) <= 10 for v in values):
            raise ValueError(f"a point is {hyper['dim']} finite numbers within [-10, 10], got {quote(text)}")
        return torch.tensor([values], dtype=torch.float32)
    raise ValueError(f"an image item is an index into the drawn items (0 to {len(pool) - 1}) or an uploaded image, "
                     f"not {quote(text)}")  # fmt: skip


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
    refined_mse: float  # the round trip with REFINE_ITERATIONS fixed-point iterations per inverse step
    refined_std: float  # the standard deviation of its latents
    refined_errors: dict[int, list[tuple[int, float]]]  # MSE against S, by iterations per step (REFINE_CURVES)
    heun_errors: list[tuple[int, float]]  # MSE against S with Heun run forwards to encode, backwards to decode


def run_invert(settings: LatentSettings) -> InvertRun:
    """Invert the items, decode them back, and measure the round trip at several S."""
    from explorer.limits import check_int

    loaded, schedule, prediction, bound = model_parts(settings.model)
    steps = check_int("steps", settings.steps, 1, schedule.T)
    if settings.upload:
        x0 = parse_item("", loaded, torch.empty(0), upload=settings.upload)
    else:
        x0 = data_items(loaded, settings.n, settings.seed)
    x0 = x0.to(loaded.device)
    x_T, states = ddim_invert(loaded.model, schedule, x0, prediction, steps, keep=True)
    x0_rec = ddim_decode(loaded.model, schedule, x_T, prediction, steps, clip_x0=bound)
    trip = RoundTrip(x0, x_T, x0_rec)
    kind = "image" if is_image_model(loaded) else "points"
    paths = None
    if kind == "points":
        pick = np.linspace(0, len(x0) - 1, min(PATH_COUNT, len(x0))).round().astype(int)
        paths = torch.stack(states)[:, pick].permute(1, 0, 2).cpu().numpy()
    few = x0[: ERROR_CURVE_ITEMS[kind]]
    errors = error_curve(loaded.model, schedule, few, prediction, clip_x0=bound)
    refined = round_trip(loaded.model, schedule, x0, prediction, steps, clip_x0=bound, refine=REFINE_ITERATIONS)
    refined_errors = {k: error_curve(loaded.model, schedule, few, prediction, clip_x0=bound, refine=k)
                      for k in REFINE_CURVES}  # fmt: skip
    heun_errors = error_curve(loaded.model, schedule, few, prediction, clip_x0=bound, solver="heun")
    x0, x_T, x0_rec = (v.cpu().numpy() for v in (x0, x_T, x0_rec))
    return InvertRun(settings, kind, x0, x_T, x0_rec, paths, trip.mse(), trip.psnr(), errors, refined.mse(),
                     float(refined.x_T.std()), refined_errors, heun_errors)  # fmt: skip


@dataclass(frozen=True)
class InterpolationSettings:
    model: str
    a: str = "0"  # typed: an index into the drawn items, or 'x, y' for a point
    b: str = "1"
    upload_a: str | None = None  # an uploaded image, which replaces a (a path the upload component made)
    upload_b: str | None = None
    steps: int = 50
    frames: int = 9
    n: int = 1000  # items drawn by the seed, which indices refer to
    seed: int = 0


def run_interpolation(settings: InterpolationSettings) -> tuple[Morph, np.ndarray]:
    """The morph between items a and b, and the drawn items (the cloud the points are drawn over)."""
    from explorer.limits import check_int

    loaded, schedule, prediction, bound = model_parts(settings.model)
    steps = check_int("steps", settings.steps, 1, schedule.T)
    pool = data_items(loaded, settings.n, settings.seed)
    a = parse_item(settings.a, loaded, pool, settings.upload_a).to(loaded.device)
    b = parse_item(settings.b, loaded, pool, settings.upload_b).to(loaded.device)
    return interpolate(loaded.model, schedule, a, b, prediction, steps, settings.frames, bound), pool.numpy()
