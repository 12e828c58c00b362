"""What a Gaussian denoiser predicts (eps, x0, v or the flow velocity) and the conversions between them.

Time convention: `t` is the 0-based schedule index (see core.schedules).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import torch

from explorer.core.gaussian import eps_from_v, eps_from_x0, v_from_eps_x0, x0_from_eps, x0_from_v
from explorer.core.schedules import NoiseSchedule, extract


class Prediction(StrEnum):
    """What a Gaussian denoiser outputs: the noise, the data, v (Salimans & Ho 2022), or rectified
    flow's velocity eps - x0 (Liu et al. 2023)."""

    EPS = "eps"
    X0 = "x0"
    V = "v"
    FLOW = "flow"


PREDICTIONS = tuple(p.value for p in Prediction)


def predict_x0_eps(
    schedule: NoiseSchedule, output: torch.Tensor, xt: torch.Tensor, t: torch.Tensor | int, prediction: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0_hat, eps_hat) from a model output that predicts eps, x0 or v."""
    if prediction == "eps":
        if isinstance(t, int) and float(schedule.alpha_bar[t]) == 0.0:
            raise ValueError(
                "this schedule has zero terminal SNR: at its last step x_T is pure noise, so an eps-prediction "
                "model cannot recover x0 there (x0 = (x_T - eps) / 0). Use a v- or x0-prediction model, or a "
                "spacing that does not start at the last step (leading)."
            )
        return x0_from_eps(schedule, xt, t, output), output
    if prediction == "x0":
        return output, eps_from_x0(schedule, xt, t, output)
    if prediction == "v":
        return x0_from_v(schedule, xt, t, output), eps_from_v(schedule, xt, t, output)
    if prediction == "flow":  # u = eps - x0 on x_t = a x0 + s eps with a + s = 1: x0 = x_t - s u, eps = x_t + a u
        if schedule.kind != "flow":
            raise ValueError("a velocity ('flow') model needs the rectified-flow process")
        return xt - extract(schedule.sqrt_one_minus_alpha_bar, t, xt) * output, xt + extract(
            schedule.sqrt_alpha_bar, t, xt) * output  # fmt: skip
    raise ValueError(f"unknown prediction {prediction!r}; choose from {list(PREDICTIONS)}")


def training_target(
    prediction: str, schedule: Any, t: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """What the network is trained to output for L_simple."""
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "flow":
        return eps - x0  # rectified flow's velocity d x_t / dt (Liu et al. 2023, eq. 1)
    return v_from_eps_x0(schedule, t, eps, x0)
