"""Timestep spacings: which S of the T timesteps a sampler visits.

Time convention: `t` is the 0-based schedule index; sequences are descending and the data sit at -1.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

import numpy as np

from explorer.core.schedules import NoiseSchedule

KARRAS_RHO = 7.0  # Karras et al. 2022, eq. 5


class Spacing(StrEnum):
    """Which S of the T timesteps a sampler visits (see timesteps)."""

    LEADING = "leading"
    TRAILING = "trailing"
    LINSPACE = "linspace"
    QUADRATIC = "quadratic"
    KARRAS = "karras"
    LOGSNR = "logsnr"


SPACINGS = tuple(spacing.value for spacing in Spacing)


def _nearest_index(table: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For a table increasing along the index, the nearest (interpolated, rounded) index of each target."""
    return np.interp(targets, table, np.arange(len(table))).round()


def timesteps(T: int, S: int, spacing: str, schedule: NoiseSchedule | None = None) -> list[int]:
    """The S distinct timesteps (0-based, descending) a sampler visits, by spacing:
    leading: 0, T//S, 2 T//S, ... (DDIM's 'uniform'); trailing: T-1, T-1-T/S, ... (ends at
    T - 1, as Lin et al. 2024 advise); linspace: round(linspace(0, T - 1, S));
    quadratic: floor(linspace(0, sqrt(0.8 T), S)^2) (Song et al. 2021, appendix D.2);
    karras: sigma_i = (sigma_max^(1/rho) + i/(S-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
    rho = 7 (Karras et al. 2022, eq. 5); logsnr: uniform in lambda = log(a/s) (Lu et al. 2022).
    The last two need the schedule and land on the nearest integer timestep, from T - 1 to 0.
    Repeats (the quadratic's floor near 0, rounding) are moved apart: a repeated timestep
    would be a wasted model call."""
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose from {sorted(SPACINGS)}")
    if not 1 <= S <= T:
        raise ValueError(f"steps must be between 1 and T = {T}, got {S}")
    if spacing == "leading":
        seq = np.arange(S) * (T // S)
    elif spacing == "trailing":
        seq = np.round(np.arange(T, 0, -T / S)).astype(int)[:S] - 1
    elif spacing == "linspace":
        seq = np.linspace(0, T - 1, S).round()
    elif spacing == "quadratic":
        seq = np.floor(np.linspace(0, np.sqrt(0.8 * T), S) ** 2)
    else:
        if schedule is None or schedule.T != T:
            raise ValueError(f"the {spacing} spacing needs the model's schedule")
        ab = schedule.alpha_bar.numpy()
        ab = ab.clip(ab[ab > 0].min() / 10, None)  # a zero-terminal-SNR step, placed just past its neighbour
        sigma = np.sqrt((1 - ab) / ab)  # increasing with t
        if spacing == "karras":
            ramp = np.linspace(0, 1, S)
            hi, lo = sigma[-1] ** (1 / KARRAS_RHO), sigma[0] ** (1 / KARRAS_RHO)
            seq = _nearest_index(np.log(sigma), np.log((hi + ramp * (lo - hi)) ** KARRAS_RHO))
        else:  # -lambda = log sigma is increasing with t
            seq = _nearest_index(np.log(sigma), np.linspace(np.log(sigma[-1]), np.log(sigma[0]), S))
    ascending = [int(t) for t in sorted(seq)]
    for i in range(1, S):  # strictly increasing, moving repeats up ...
        ascending[i] = max(ascending[i], ascending[i - 1] + 1)
    ascending[-1] = min(ascending[-1], T - 1)
    for i in range(S - 2, -1, -1):  # ... and, where that overflowed T - 1, down again
        ascending[i] = min(ascending[i], ascending[i + 1] - 1)
    return ascending[::-1]


def step_pairs(seq: list[int]) -> Iterator[tuple[int, int, int]]:
    """(i, t, t_prev) along a descending timestep sequence, ending at the data (-1)."""
    for i, t in enumerate(seq):
        yield i, t, seq[i + 1] if i + 1 < len(seq) else -1
