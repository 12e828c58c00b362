"""The Score and likelihood tab's score field: what a point model has learned, s_theta(x, t), beside
the exact score of its noised training set, recorded at a ladder of t for the slider to read.

Time convention: `t` here is the paper's t (1..T); the core's index is t - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.core.gaussian import score_from_eps, tweedie_x0
from explorer.core.ideal import empirical_score
from explorer.runs.common import training_set
from explorer.sampling.gaussian import Estimator
from explorer.sampling.spacings import timesteps
from explorer.store.registry import REGISTRY, ModelKindError, is_image_model

FIELD_FRAMES = 30  # recorded t values, uniform in log-SNR (the score changes fastest near the data)
ARROW_GRID = 19  # arrows a side
ERROR_GRID = 48  # heat-map cells a side
FIELD_LIM = 2.5  # the field's axes [-lim, lim]^2
TWEEDIE_POINTS = 12
MONTE_CARLO_POINTS = 1000  # noised training points the relative error averages over
MAX_FIELD_TRAIN = 10_000


@dataclass(frozen=True)
class ScoreSettings:
    model: str
    seed: int = 0


@dataclass(frozen=True)
class ScoreFrame:
    t: int  # the paper's t
    learned: np.ndarray  # (G^2, 2) s_theta at the arrow grid
    exact: np.ndarray  # (G^2, 2) the exact score of the noised training set there
    weighted_error: np.ndarray  # (E, E) q_t(x) |s_theta - s*| on the error grid, rows along y
    noisy: np.ndarray  # (P, 2) points x_t drawn from q(x_t)
    tweedie: np.ndarray  # (P, 2) the model's E[x0 | x_t] by Tweedie's formula
    relative_error: float  # E_q |s_theta - s*|^2 / E_q |s*|^2, over MONTE_CARLO_POINTS draws


@dataclass(frozen=True)
class ScoreField:
    settings: ScoreSettings
    grid: np.ndarray  # (G^2, 2) arrow positions
    axis: np.ndarray  # (E,) the error grid's coordinates on each axis
    frames: list[ScoreFrame]
    T: int
    data: np.ndarray  # (P, 2) training points to draw beneath the exact field

    def nearest(self, t: int) -> ScoreFrame:
        return min(self.frames, key=lambda frame: abs(frame.t - t))


def _square(side: int) -> tuple[np.ndarray, torch.Tensor]:
    axis = np.linspace(-FIELD_LIM, FIELD_LIM, side)
    gx, gy = np.meshgrid(axis, axis)  # rows along y
    return axis, torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).float()


@torch.no_grad()
def run_score_field(settings: ScoreSettings) -> ScoreField:
    """The learned and exact scores of a point model at FIELD_FRAMES values of t."""
    handle = REGISTRY.handle(settings.model)
    if handle.discrete or is_image_model(handle):
        raise ModelKindError(settings.model, handle.kind, "a point model (the field is drawn in the plane)")
    schedule = handle.schedule
    estimate = Estimator(handle.model, schedule, handle.prediction)
    train = training_set(handle, MAX_FIELD_TRAIN)
    _, arrows = _square(ARROW_GRID)
    axis, cells = _square(ERROR_GRID)
    gen = torch.Generator().manual_seed(settings.seed)
    picks = train[torch.randperm(len(train), generator=gen)[:MONTE_CARLO_POINTS]]
    frames = []
    for index in sorted(timesteps(schedule.T, FIELD_FRAMES, "logsnr", schedule)):
        a, s = float(schedule.sqrt_alpha_bar[index]), float(schedule.sqrt_one_minus_alpha_bar[index])

        def learned(x: torch.Tensor, index: int = index) -> torch.Tensor:  # on the model's device, back on the CPU
            return score_from_eps(schedule, index, estimate(x.to(handle.device), index)[1].cpu())

        exact, _ = empirical_score(schedule, arrows, index, train)
        cell_learned = learned(cells)
        cell_exact, log_q = empirical_score(schedule, cells, index, train)
        weighted = (log_q.exp() * (cell_learned - cell_exact).norm(dim=1)).reshape(ERROR_GRID, ERROR_GRID)
        noisy = a * picks + s * torch.randn(picks.shape, generator=gen)
        mc_learned, (mc_exact, _) = learned(noisy), empirical_score(schedule, noisy, index, train)
        relative = float((mc_learned - mc_exact).pow(2).sum(1).mean() / mc_exact.pow(2).sum(1).mean())
        shown = noisy[:TWEEDIE_POINTS]  # Tweedie's x0 from the scores already computed for the error
        frames.append(ScoreFrame(
            t=index + 1, learned=learned(arrows).numpy(), exact=exact.numpy(), weighted_error=weighted.numpy(),
            noisy=shown.numpy(), tweedie=tweedie_x0(schedule, shown, index, mc_learned[:TWEEDIE_POINTS]).numpy(),
            relative_error=relative,
        ))  # fmt: skip
    return ScoreField(settings, arrows.numpy(), axis, frames, schedule.T, picks.numpy())
