"""The Score and likelihood tab's likelihood runs, and the elbo and nll commands: a model's ELBO term
by term and its exact likelihood through the probability-flow ODE, on data of its own dataset.

Units: images are scored on the digits' 17 grey levels in bits per dimension (the ELBO with its
discretised decoder; the ODE after uniform dequantisation); points in nats per point, a density.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from explorer import data
from explorer.core.likelihood import REVERSE_VARIANCES, elbo_weight
from explorer.data.images import quantize
from explorer.evaluation.elbo import ElboTerms, discrete_elbo, gaussian_elbo, strata
from explorer.evaluation.ode_likelihood import DIVERGENCES, MAX_PROBES, ode_log_likelihood
from explorer.limits import MAX_T, check_choice, check_int
from explorer.models.d3pm import DIGIT_LEVELS
from explorer.runs.common import training_set
from explorer.sampling.gaussian import Estimator
from explorer.store.registry import REGISTRY, ModelHandle, is_image_model

MAX_ELBO_POINTS, MAX_ELBO_IMAGES = 5000, 500  # items an ELBO scores (every term is a model call on all)
MAX_NLL_POINTS, MAX_NLL_IMAGES = 2000, 200  # items the ODE carries (with backward passes at every call)
MAX_NLL_STEPS = 500
HELD_OUT_OFFSET = 2**20  # fresh points use seed + this: the training set's draw (its config's seed) is never met
# the most item-evaluations one request may cost (items x model calls; an ODE call carries backward
# passes): about 40 s of 2 CPU cores for the digits, 10 s for points
MAX_ELBO_WORK = {"images": 100_000, "points": 2_000_000}
MAX_NLL_WORK = {"images": 20_000, "points": 500_000}
DENSITY_GRID = 64  # the density map's cells a side
DENSITY_LIM = 1.6  # ... over [-lim, lim]^2, where every point set lies


@dataclass(frozen=True)
class ElboSettings:
    model: str
    n: int = 500
    seed: int = 0
    every: int = 10
    variance: str = "beta"


@dataclass(frozen=True)
class NllSettings:
    model: str
    n: int = 500
    seed: int = 0
    steps: int = 100
    probes: int = 1
    density: bool = False  # points: also the model's density on a grid


def evaluation_items(handle: ModelHandle, n: int, seed: int, limits: tuple[int, int]) -> tuple[torch.Tensor, str]:
    """n items to score, and where they come from: points drawn afresh from the model's dataset
    (held out), or images picked by the seed from the 297 held-out digits of a model trained with
    holdout (digits it never saw), else from its training digits (a model trained on all 1,797 has
    no held-out digits)."""
    image = is_image_model(handle) or handle.discrete
    n = check_int("number of items", n, 1, limits[1] if image else limits[0])
    seed = check_int("seed", seed, 0, 2**31 - 1)
    if image:
        held_out = handle.train.holdout
        pool = data.digits()[0][data.split_indices()[1]] if held_out else training_set(handle, 100_000)
        if n > len(pool):
            raise ValueError(f"there are {len(pool)} held-out digits: score at most that many")
        picks = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n]
        where = "held-out digits, never trained on" if held_out else "training digits"
        return pool[picks], f"{n} {where} (seed {seed})"
    train, gen = handle.train, torch.Generator().manual_seed(seed + HELD_OUT_OFFSET)
    return data.make_points(train.dataset, n, train.noise, gen).x, f"{n} fresh {train.dataset} points (held out)"


def check_work(what: str, items: int, calls: int, unit: str, limits: dict[str, int], image: bool, hint: str) -> None:
    """Refuse a request whose items x model calls exceed the server's bound for its kind of data."""
    limit = limits["images" if image else "points"]
    if items * calls > limit:
        raise ValueError(f"{what} of {items:,} items over {calls:,} {unit} is {items * calls:,} item-evaluations; "
                         f"at most {limit:,} are allowed: {hint}")  # fmt: skip


@dataclass(frozen=True)
class ElboRun:
    settings: ElboSettings
    terms: ElboTerms
    items: str  # what was scored
    weights: dict[str, tuple[list[int], list[float]]]  # per-t weight on |eps - eps_hat|^2, each scaled to mean 1


def run_elbo(settings: ElboSettings, allow_path: bool = False) -> ElboRun:
    """The ELBO of the named model (Gaussian, flow or D3PM) on its own kind of data (allow_path: the
    command line's checkpoint folders too)."""
    every = check_int("every", settings.every, 1, MAX_T)
    handle = REGISTRY.handle(settings.model, allow_path=allow_path)
    x0, items = evaluation_items(handle, settings.n, settings.seed, (MAX_ELBO_POINTS, MAX_ELBO_IMAGES))
    T = handle.process.T if handle.discrete else handle.schedule.T
    check_work("the ELBO", len(x0), len(strata(T, every)), "terms", MAX_ELBO_WORK, x0.ndim > 2,
               "score fewer items or raise 'every'")  # fmt: skip
    gen = torch.Generator().manual_seed(settings.seed)  # on the CPU: the same draws on every device (core.draws)
    x0 = x0.to(handle.device)
    if handle.discrete:
        terms = discrete_elbo(handle.model, handle.process, quantize(x0, handle.process.K), gen, every)
        return ElboRun(settings, terms, items, {})
    variance = check_choice("reverse variance", settings.variance, REVERSE_VARIANCES)
    levels = DIGIT_LEVELS if is_image_model(handle) else None
    terms = gaussian_elbo(handle.model, handle.schedule, handle.prediction, x0, gen, every, variance, levels)
    weight = elbo_weight(handle.schedule, variance)[1:].numpy()
    steps = np.arange(2, handle.schedule.T + 1)
    finite = np.isfinite(weight)  # rectified flow's last step (alpha_T = 0) has no eps-form weight
    weight, steps = weight[finite], steps[finite].tolist()
    weights = {"ELBO (Ho et al. eq. 12)": (steps, (weight / weight.mean()).tolist()),
               "L_simple": (steps, [1.0] * len(steps))}  # fmt: skip
    return ElboRun(settings, terms, items, weights)


@dataclass(frozen=True)
class NllRun:
    settings: NllSettings
    mean: float  # bits/dim (images) or nats per point
    stderr: float
    unit: str
    items: str
    nfe: int
    divergence: str
    note: str  # how the number was made (dequantisation, probes)
    per_item: np.ndarray  # (N,) each item's NLL in `unit`
    data: np.ndarray  # the scored items: (N, 2) points or (N, 1, 8, 8) digits
    log_density: np.ndarray | None = None  # (G, G) log p_theta on the grid, rows along y (points)
    data_density: np.ndarray | None = None  # (G, G) the training set's histogram on the same grid, as a density


def density_axis() -> np.ndarray:
    """The density map's cell centres on each axis."""
    return np.linspace(-DENSITY_LIM, DENSITY_LIM, DENSITY_GRID)


def model_log_density(estimate: Estimator, steps: int, device: torch.device) -> np.ndarray:
    """log p_theta on a DENSITY_GRID^2 grid over [-DENSITY_LIM, DENSITY_LIM]^2 (rows along y)."""
    axis = torch.from_numpy(density_axis()).float()
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    log_p = ode_log_likelihood(estimate, grid.to(device), steps, torch.Generator().manual_seed(0)).log_p
    return log_p.reshape(DENSITY_GRID, DENSITY_GRID).numpy()


def training_histogram(handle: ModelHandle) -> np.ndarray:
    """The model's training points binned on the density map's cells, as a density (rows along y)."""
    x = training_set(handle, 100_000).numpy()
    half = (DENSITY_LIM * 2 / (DENSITY_GRID - 1)) / 2
    edges = np.linspace(-DENSITY_LIM - half, DENSITY_LIM + half, DENSITY_GRID + 1)
    counts, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=[edges, edges])
    return counts / (len(x) * (2 * half) ** 2)


def run_nll(settings: NllSettings, allow_path: bool = False) -> NllRun:
    """The probability-flow ODE likelihood of the named Gaussian or flow model: nats per held-out point
    (exact divergence), or bits/dim of digits after uniform dequantisation (Hutchinson's estimate)."""
    handle = REGISTRY.handle(settings.model, allow_path=allow_path)
    if handle.discrete:
        raise ValueError(f"{settings.model!r} is a discrete (D3PM) model: it has no probability-flow ODE; "
                         "its ELBO is its likelihood bound")  # fmt: skip
    steps = check_int("ODE steps", settings.steps, 2, MAX_NLL_STEPS)
    probes = check_int("Hutchinson probes", settings.probes, 1, MAX_PROBES)
    x0, items = evaluation_items(handle, settings.n, settings.seed, (MAX_NLL_POINTS, MAX_NLL_IMAGES))
    carried = len(x0) + (DENSITY_GRID**2 if settings.density and x0.ndim == 2 else 0)
    check_work("the ODE likelihood", carried, steps, "steps", MAX_NLL_WORK, x0.ndim > 2,
               "score fewer items or take fewer steps")  # fmt: skip
    gen = torch.Generator().manual_seed(settings.seed)
    estimate = Estimator(handle.model, handle.schedule, handle.prediction)
    if not is_image_model(handle):
        result = ode_log_likelihood(estimate, x0.to(handle.device), steps, gen, "exact")
        nll = -result.log_p
        log_density = data_density = None
        if settings.density:
            log_density, data_density = model_log_density(estimate, steps, handle.device), training_histogram(handle)
        return NllRun(settings, float(nll.mean()), float(nll.std()) / math.sqrt(len(nll)), "nats", items, result.nfe,
                      "exact", "exact divergence (2 backward passes a call)", nll.numpy(), x0.numpy(), log_density,
                      data_density)  # fmt: skip
    half = 1.0 / (DIGIT_LEVELS - 1)  # a grey level's bin is [x - half, x + half]
    u = (torch.rand(x0.shape, generator=gen) * 2 - 1) * half
    result = ode_log_likelihood(estimate, (x0 + u).to(handle.device), steps, gen, DIVERGENCES[1], probes)
    dims = x0[0].numel()
    # P(level) >= bin^D exp(E_u log p(x + u)) (Jensen), bin = 2 half: bits/dim = (-log p - D log bin) / (D log 2)
    bits = (-result.log_p - dims * math.log(2 * half)) / (dims * math.log(2))
    note = (f"uniform dequantisation over each grey level's bin (width 2/{DIGIT_LEVELS - 1}, centred on the level); "
            f"Hutchinson divergence, {probes} Rademacher probe(s) an image")  # fmt: skip
    return NllRun(settings, float(bits.mean()), float(bits.std()) / math.sqrt(len(bits)), "bits/dim", items,
                  result.nfe, "hutchinson", note, bits.numpy(), x0.numpy())  # fmt: skip
