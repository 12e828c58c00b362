"""The forward (noising) process as the Forward tab, the CLI and the benchmarks see it.

Steps here are the paper's t: step 0 is the data x0 and step k in 1..T is x_k, which
lives at schedule index k - 1. Two routes reach x_k and must agree in distribution:
the closed-form shortcut q(x_k | x0) with one fixed eps per seed (so points move
smoothly as the slider moves), and the step-by-step chain of q(x_k | x_{k-1}).
The chain keeps checkpoints (state and generator state) so any step is at most a few
links away from a stored one, and scrubbing stays fast.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

import numpy as np
import torch

from explorer import data
from explorer.core.gaussian import marginal_pdf, q_sample, q_step, standard_normal_pdf
from explorer.core.schedules import VE, NoiseSchedule, make_schedule, ve_sigma_max
from explorer.limits import MAX_FIELD_CHARS, MAX_STRIP_FRAMES, check_int

MODES = ("shortcut", "chain")


CHAIN_CHECKPOINTS = 200


HIST_RANGE, HIST_BINS, HIST_GRID = 4.0, 60, 241


MAX_EXACT_CENTRES = 2000


CHAIN_SEED_OFFSET = 1_000_003  # the chain draws from its own stream, independent of the data's


@dataclass(frozen=True)
class ForwardSettings:
    """Everything that fixes x0, its noise and the schedule (hashable: it keys the cache)."""

    dataset: str = "spiral"
    n_points: int = 2000
    n_images: int = 16
    noise: float = 0.0
    seed: int = 0
    schedule: str = "cosine"
    T: int = 1000
    zero_terminal_snr: bool = False
    mode: str = "shortcut"
    image_path: str | None = None
    image_size: int = 64
    grey: bool = False

    def validated(self) -> ForwardSettings:
        """A copy with every number checked against explorer.limits (ValueError if not)."""
        info = data.dataset_info(self.dataset)
        if info.kind != "points" and info.kind != "image":
            raise ValueError(f"the forward Gaussian process needs points or images, not {info.kind}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose from {sorted(MODES)}")
        if self.dataset == "upload" and not self.image_path:
            raise ValueError("choose an image file to upload first")
        make_schedule(self.schedule, self.T, bool(self.zero_terminal_snr))  # checks the name, T and the rescaling
        return replace(self, seed=check_int("seed", self.seed, 0, 2**31 - 1), T=int(float(self.T)))


POINT_VIEW = 3.0  # the points' view [-3, 3]^2 holds N(0, I); a VE process's grows to 3 sigma_max


@dataclass(frozen=True)
class Histogram:
    """One coordinate of x_k: histogram, exact density of q(x_k) and the prior p(x_T) (N(0, 1); N(0, sigma_max^2)
    for VE) it approaches."""

    edges: np.ndarray
    density: np.ndarray
    grid: np.ndarray
    exact: np.ndarray | None
    standard: np.ndarray
    label: str


class _ChainCheckpoints:
    """States of the chain, with the generator state after each, every `stride` steps."""

    def __init__(self, schedule: NoiseSchedule, x0: torch.Tensor, generator: torch.Generator):
        self.schedule, self.stride = schedule, max(1, math.ceil(schedule.T / CHAIN_CHECKPOINTS))
        self.states = [(x0, generator.get_state())]
        x = x0
        for step in range(1, schedule.T + 1):
            x = q_step(schedule, x, step - 1, generator)
            if step % self.stride == 0:
                self.states.append((x, generator.get_state()))

    def at(self, step: int) -> torch.Tensor:
        x, state = self.states[step // self.stride]
        generator = torch.Generator().set_state(state)
        for s in range(step - step % self.stride + 1, step + 1):
            x = q_step(self.schedule, x, s - 1, generator)
        return x


class ForwardProcess:
    """x0 for one setting, its fixed noise, its schedule and both routes to x_k."""

    def __init__(self, settings: ForwardSettings):
        self.settings = settings = settings.validated()
        self.kind = data.dataset_info(settings.dataset).kind
        generator = torch.Generator().manual_seed(settings.seed)
        self.color: np.ndarray | None = None
        if settings.dataset == "upload":
            self.x0 = data.load_image(settings.image_path, settings.image_size, settings.grey)
        elif settings.dataset == "digits":
            self.x0, _ = data.sample_digits(settings.n_images, generator)
        else:
            points = data.make_points(settings.dataset, settings.n_points, settings.noise, generator)
            self.x0, self.color = points.x, points.color.numpy()
        self.eps = torch.randn(self.x0.shape, generator=generator)
        self.schedule = self.schedule_named(settings.schedule)
        self.hist_range = math.ceil(HIST_RANGE * max(1.0, self.schedule.prior_std))  # a whole number: tidy labels
        self._chain: _ChainCheckpoints | None = None
        self._lock = threading.Lock()

    @property
    def T(self) -> int:
        return self.schedule.T

    @cached_property
    def sigma_max(self) -> float:
        """VE's largest noise for this data: its largest pairwise distance (Song & Ermon 2020, technique 1;
        for one item, twice its norm, the diameter of the ball around 0 that holds it), at least 1."""
        flat = self.x0.reshape(len(self.x0), -1).double()
        return max(ve_sigma_max(flat) if len(flat) > 1 else 2 * float(flat.norm(dim=1).max()), 1.0)

    def schedule_named(self, name: str) -> NoiseSchedule:
        """The process `name` at this setting's T (VE up to sigma_max)."""
        sigma_max = self.sigma_max if name == VE else None
        return make_schedule(name, self.settings.T, self.settings.zero_terminal_snr, sigma_max)

    @property
    def data_variance(self) -> float:
        """Var(x0) per coordinate, averaged over the coordinates."""
        flat = self.x0.reshape(len(self.x0), -1).double()
        return float(flat.var(0, correction=0).mean()) if len(flat) > 1 else float(flat.var())

    @property
    def view_lim(self) -> float:
        """Half the side of the points' square view: room for the prior at t = T."""
        return POINT_VIEW * max(1.0, self.schedule.prior_std)

    def prior_density(self, grid: torch.Tensor) -> torch.Tensor:
        std = self.schedule.prior_std
        return standard_normal_pdf(grid / std) / std

    def check_step(self, step: object) -> int:
        return check_int("t", step, 0, self.T)

    def x_at(self, step: int) -> torch.Tensor:
        """x_k by the setting's route (k = 0 returns x0)."""
        step = self.check_step(step)
        if step == 0:
            return self.x0
        if self.settings.mode == "shortcut":
            return q_sample(self.schedule, self.x0, step - 1, self.eps)
        with self._lock:
            if self._chain is None:
                generator = torch.Generator().manual_seed(self.settings.seed + CHAIN_SEED_OFFSET)
                self._chain = _ChainCheckpoints(self.schedule, self.x0, generator)
        return self._chain.at(step)

    def scales(self, step: int) -> tuple[float, float, float]:
        """(signal a, noise s, log-SNR) at step k, x_k = a x0 + s eps (sqrt(alpha_bar), sqrt(1 - alpha_bar) for VP)."""
        if step == 0:
            return 1.0, 0.0, math.inf
        i = step - 1
        s = self.schedule
        return float(s.sqrt_alpha_bar[i]), float(s.sqrt_one_minus_alpha_bar[i]), float(s.log_snr[i])

    def caption(self, step: int) -> str:
        signal, noise, _ = self.scales(step)
        return f"t = {step} / {self.T}    signal {signal:.2f}   noise {noise:.2f}"

    def histogram(self, step: int) -> Histogram:
        """Coordinate x_1 of every point, or every pixel value of the images, at step k."""
        x = self.x_at(step)
        values = (x[:, 0] if self.kind == "points" else x.reshape(-1)).double()
        centres = (self.x0[:, 0] if self.kind == "points" else self.x0.reshape(-1)).double()
        centres = centres[:: max(1, math.ceil(len(centres) / MAX_EXACT_CENTRES))]
        r = self.hist_range
        grid = torch.linspace(-r, r, HIST_GRID, dtype=torch.float64)
        density, edges = np.histogram(values.numpy(), HIST_BINS, (-r, r), density=True)
        signal, noise, _ = self.scales(step)
        exact = marginal_pdf(grid, centres, signal, noise).numpy() if noise > 0 else None
        label = "coordinate x₁" if self.kind == "points" else "pixel values"
        return Histogram(edges, density, grid.numpy(), exact, self.prior_density(grid).numpy(), label)

    def histograms(self, steps: list[int]) -> tuple[Histogram, np.ndarray, np.ndarray]:
        """The histogram of histogram() at many steps at once, for the browser's player: a Histogram
        holding the shared axes (edges, grid, N(0, 1), label), the densities (K, bins) and the exact densities of
        q(x_k) on the grid (K, grid; at k = 0, where q(x_0) is the data's spikes, the data's own histogram).
        The exact mixture is evaluated over the data
        coordinates binned into DENSITY_BINS weighted centres, which moves each centre by at most
        half a bin (0.006 on [-HIST_RANGE, HIST_RANGE]), far under the grid's spacing."""
        r = self.hist_range
        grid64 = torch.linspace(-r, r, HIST_GRID, dtype=torch.float64)
        edges = np.linspace(-r, r, HIST_BINS + 1)
        label = "coordinate x₁" if self.kind == "points" else "pixel values"
        axes = Histogram(edges, np.zeros(HIST_BINS), grid64.numpy(), None, self.prior_density(grid64).numpy(), label)
        density, exact = [], []
        data = (self.x0[:, 0] if self.kind == "points" else self.x0.reshape(-1)).numpy().astype(np.float64)
        weights, bin_edges = np.histogram(data, DENSITY_BINS, (-r, r))
        keep = weights > 0
        centres = torch.from_numpy(((bin_edges[:-1] + bin_edges[1:]) / 2)[keep]).float()
        share = torch.from_numpy(weights[keep] / weights.sum()).float()
        grid = grid64.float()
        for step in steps:
            x = self.x_at(step)
            values = (x[:, 0] if self.kind == "points" else x.reshape(-1)).numpy()
            density.append(np.histogram(values, HIST_BINS, (-r, r), density=True)[0])
            signal, noise, _ = self.scales(step)
            if noise > 0:
                z = (grid[:, None] - signal * centres[None, :]) / noise
                exact.append((torch.exp(-0.5 * z * z) @ share / (noise * math.sqrt(2 * math.pi))).numpy())
            else:  # no noise: q(x_0) is the data itself, drawn at the bins' resolution (zero would read as no mass)
                bins = np.clip(np.searchsorted(edges, grid64.numpy(), side="right") - 1, 0, HIST_BINS - 1)
                exact.append(density[-1][bins].astype(np.float32))
        return axes, np.stack(density), np.stack(exact)


DENSITY_BINS = 640  # weighted centres of the exact density in histograms()


@lru_cache(maxsize=8)
def forward_process(settings: ForwardSettings) -> ForwardProcess:
    """The ForwardProcess for a setting, memoised (it is a pure function of the setting)."""
    return ForwardProcess(settings)


def parse_steps(text: str, T: int, default_count: int = 6) -> list[int]:
    """Steps from text like '0, 100, 500' (each in 0..T); empty text gives evenly spaced ones."""
    if not text or not text.strip():
        return [int(s) for s in np.linspace(0, T, default_count).round()]
    if len(text) > MAX_FIELD_CHARS:
        raise ValueError(f"the strip's steps are at most {MAX_FIELD_CHARS} characters, got {len(text):,}")
    steps = []
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if part:
            steps.append(check_int("each t in the strip", part, 0, T))
    if not 1 <= len(steps) <= MAX_STRIP_FRAMES:
        raise ValueError(f"a strip holds 1 to {MAX_STRIP_FRAMES} frames, got {len(steps)}")
    return steps
