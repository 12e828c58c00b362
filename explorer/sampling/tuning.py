"""Timesteps tuned for one sampler at one step count: a coordinate search that lowers a score.

At 5 or 10 model calls, where the calls sit matters as much as the solver: the spacings of
sampling.spacings are rules of thumb, and a search finds better ones for a given model (Sabour et
al. 2024, "Align Your Steps", do it by a KL bound; Chen et al. 2024, "GITS", by dynamic programming
against a teacher trajectory). Here the score is the sample quality itself, measured on a seed set
apart for tuning, and the result is checked on other seeds (runs.tuned).

Time convention as in sampling.spacings: 0-based indices, descending; the first is T - 1, where
x_T is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

TUNED = "tuned"  # the spacing name of a model's tuned timesteps (SamplerSettings.tuned holds them)
MOVES_PER_MILLE = (1, 2, 5, 15, 40)  # the shifts tried for each timestep, in thousandths of T (at least 1)
MAX_SWEEPS = 8  # passes over the timesteps; the search stops earlier once a pass improves nothing


@dataclass(frozen=True)
class TunedSearch:
    """What a search found: the timesteps, their score, the starting score, and its cost."""

    timesteps: list[int]
    score: float
    start_score: float
    evaluations: int
    sweeps: int


def check_tuned(seq: list[int] | tuple[int, ...], T: int) -> list[int]:
    """`seq` as a tuned timestep list: strictly descending integers in [0, T - 1] that start at T - 1
    (x_T is drawn from the prior at T). ValueError says what is wrong."""
    seq = [int(t) for t in seq]
    if not seq or seq[0] != T - 1:
        raise ValueError(f"tuned timesteps must start at t = T - 1 = {T - 1}, got {seq[:1]}")
    if seq[-1] < 0 or any(b >= a for a, b in zip(seq, seq[1:], strict=False)):
        raise ValueError(f"tuned timesteps must be strictly descending and at least 0, got {seq}")
    return seq


def shifts(T: int) -> list[int]:
    """The signed moves tried for each timestep, largest first in each direction."""
    sizes = sorted({max(1, round(T * m / 1000)) for m in MOVES_PER_MILLE}, reverse=True)
    return [-d for d in sizes] + sizes


def tune_timesteps(
    score: Callable[[list[int]], float],
    start: list[int],
    T: int,
    max_sweeps: int = MAX_SWEEPS,
    progress: Callable[[int, float], None] | None = None,
) -> TunedSearch:
    """Coordinate descent on integer timesteps: for each timestep after the first, try each shift
    that keeps the list strictly descending within [0, T - 1], and keep a move as soon as it lowers
    `score` (lower is better). A pass that keeps nothing ends the search: every single move from the
    result scores worse or the same. `progress(sweep, best)` is told after each pass."""
    best_seq = check_tuned(start, T)
    best = start_score = score(best_seq)
    evaluations, sweeps = 1, 0
    moves = shifts(T)
    for sweeps in range(1, max_sweeps + 1):
        improved = False
        for k in range(1, len(best_seq)):
            upper = best_seq[k - 1] - 1
            lower = best_seq[k + 1] + 1 if k + 1 < len(best_seq) else 0
            for move in moves:
                t = best_seq[k] + move
                if not lower <= t <= upper:
                    continue
                candidate = [*best_seq[:k], t, *best_seq[k + 1 :]]
                value = score(candidate)
                evaluations += 1
                if value < best:
                    best, best_seq, improved = value, candidate, True  # later shifts start from here
        if progress:
            progress(sweeps, best)
        if not improved:
            break
    return TunedSearch(best_seq, best, start_score, evaluations, sweeps)
