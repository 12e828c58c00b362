"""Sample-quality figures for points.

mean distance to the spiral: the nearest point on the true curve is found by a dense
search over the curve parameter followed by Newton steps on the squared distance.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from explorer.data.points import SPIRAL_SCALE, SPIRAL_SHIFT, SPIRAL_T_MAX, SPIRAL_T_MIN, spiral_curve


def chord_deviation(paths: np.ndarray) -> float:
    """How far trajectories (N, K, D), each from x_T to x_0, stray from the chords between their
    ends: the mean distance of their points to the chord, over the mean chord length (a ratio
    of means, so a path whose ends nearly meet cannot dominate). 0 for straight lines, whatever
    the speed along them."""
    start, end = paths[:, :1], paths[:, -1:]
    chord = end - start  # (N, 1, D)
    length2 = (chord**2).sum(-1, keepdims=True)
    along = np.clip(((paths - start) * chord).sum(-1, keepdims=True) / np.maximum(length2, 1e-12), 0.0, 1.0)
    distance = np.linalg.norm(paths - (start + along * chord), axis=-1).mean(1)  # (N,)
    return float(distance.mean() / max(float(np.sqrt(length2[:, 0, 0]).mean()), 1e-12))


def path_straightness(paths: np.ndarray, times: np.ndarray) -> float:
    """Liu et al. 2023's straightness S = int_0^1 E |(x(1) - x(0)) - dx/dtau|^2 d tau of trajectories
    (N, K, D) recorded at the times `times` (K,) in [0, 1] (from 1 at x_T to 0 at the data), the
    velocity taken as each segment's difference quotient. 0 only for straight paths run at
    constant speed; for a half circle of radius 1 it is pi^2 - 4."""
    times = np.asarray(times, dtype=np.float64)
    if paths.shape[1] != len(times) or len(times) < 2:
        raise ValueError(f"one time per recorded state: {paths.shape[1]} states, {len(times)} times")
    chord = paths[:, 0] - paths[:, -1]  # x(1) - x(0)
    gaps = times[:-1] - times[1:]  # (K - 1,) positive
    velocity = (paths[:, :-1] - paths[:, 1:]) / gaps[None, :, None]  # dx/dtau on each segment
    deviation = ((chord[:, None] - velocity) ** 2).sum(-1).mean(0)  # (K - 1,)
    return float((deviation * gaps).sum() / (times[0] - times[-1]))


NEWTON_STEPS = 6


HALF_TURNS = range(1, 6)  # phi + k pi for phi in (-pi, pi]: these k reach every angle in [1.5 pi, 4.5 pi]


def spiral_distance(points: torch.Tensor) -> torch.Tensor:
    """Distance (N,) from each point (N, 2) to the normalised spiral curve gamma(theta), theta in
    [T_MIN, T_MAX]: Newton's method on f(theta) = |gamma(theta) - p|^2 / 2 from a few starts (the angles
    with the point's own polar angle modulo a half turn, within the range, and both ends), the nearest
    result kept. On an Archimedean spiral every local minimum of f lies within a half turn of the
    point's polar angle, so the starts reach the global one (checked against a dense search)."""
    p = points.double()
    q = (p - SPIRAL_SHIFT) / SPIRAL_SCALE
    phi = torch.atan2(q[:, 1], q[:, 0])  # (N,)
    k = torch.tensor(list(HALF_TURNS), dtype=torch.float64)
    starts = phi[:, None] + math.pi * k  # (N, K) the polar angle, every half turn
    starts = torch.cat(
        [starts, torch.full_like(phi[:, None], SPIRAL_T_MIN), torch.full_like(phi[:, None], SPIRAL_T_MAX)], 1
    )
    inside = (starts >= SPIRAL_T_MIN) & (starts <= SPIRAL_T_MAX)
    theta = starts.clamp(SPIRAL_T_MIN, SPIRAL_T_MAX)  # (N, K)
    target = p[:, None, :]
    for _ in range(NEWTON_STEPS):  # minimise f(theta) = |gamma(theta) - p|^2 / 2
        c, s = torch.cos(theta), torch.sin(theta)
        gamma = torch.stack([theta * c, theta * s], -1) * SPIRAL_SCALE + SPIRAL_SHIFT
        d1 = torch.stack([c - theta * s, s + theta * c], -1) * SPIRAL_SCALE  # gamma'
        d2 = torch.stack([-2 * s - theta * c, 2 * c - theta * s], -1) * SPIRAL_SCALE  # gamma''
        r = gamma - target
        grad = (r * d1).sum(-1)
        hess = (d1 * d1).sum(-1) + (r * d2).sum(-1)
        step = torch.where(hess > 1e-12, grad / hess.clamp(min=1e-12), torch.zeros_like(grad))
        theta = (theta - step).clamp(SPIRAL_T_MIN, SPIRAL_T_MAX)
    distance = torch.linalg.norm(spiral_curve(theta) - target, dim=-1)  # (N, K)
    ends = torch.zeros_like(inside)
    ends[:, -2:] = True
    return distance.where(inside | ends, torch.inf).min(1).values


def mean_spiral_distance(points: torch.Tensor) -> float:
    """The spiral metric: mean distance of samples to the curve (N(0, I) scores about 0.515)."""
    return float(spiral_distance(points).mean())


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator, projections: int = 256) -> float:
    """Sliced 1-Wasserstein distance between point sets a (N, D) and b (M, D): the mean over
    random unit directions of W1 between the projected 1-D samples, compared at common
    quantile levels (so N and M may differ)."""
    n = min(a.shape[0], b.shape[0])
    directions = torch.randn(a.shape[1], projections, generator=generator, dtype=torch.float64)
    directions /= torch.linalg.norm(directions, dim=0, keepdim=True)
    qa = torch.sort(a.double() @ directions, dim=0).values
    qb = torch.sort(b.double() @ directions, dim=0).values
    levels = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    ia = (levels * a.shape[0]).long().clamp(max=a.shape[0] - 1)
    ib = (levels * b.shape[0]).long().clamp(max=b.shape[0] - 1)
    return float((qa[ia] - qb[ib]).abs().mean())


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Energy distance (Szekely & Rizzo): 2 E|X - Y| - E|X - X'| - E|Y - Y'| for X ~ a, Y ~ b,
    from the V-statistics of the two samples; zero exactly when the samples coincide."""
    a, b = a.double().reshape(len(a), -1), b.double().reshape(len(b), -1)
    return float(2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean())
