"""2D point sets, scaled to about [-1, 1], each drawn with an explicit torch.Generator."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from explorer.limits import (
    MAX_NOISE,
    MAX_POINTS,
    check_float,
    check_int,
)

SPIRAL_T_MIN, SPIRAL_T_MAX = 1.5 * math.pi, 4.5 * math.pi


SPIRAL_SCALE, SPIRAL_SHIFT = 1.0 / (4.0 * math.pi), -1.0 / 8.0


@dataclass(frozen=True)
class PointSet:
    """Points (N, 2) and a colour coordinate (N,) in [0, 1] that follows each point."""

    x: torch.Tensor
    color: torch.Tensor
    label: torch.Tensor | None = None  # (N,) class indices, for labelled sets


def _uniform(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64)


def spiral_curve(theta: torch.Tensor) -> torch.Tensor:
    """The normalised spiral: (theta cos theta, theta sin theta) / (4 pi) - 1/8, shape (M, 2)."""
    xy = torch.stack([theta * torch.cos(theta), theta * torch.sin(theta)], dim=-1)
    return xy * SPIRAL_SCALE + SPIRAL_SHIFT


def spiral(n: int, generator: torch.Generator) -> PointSet:
    """x = t cos t, y = t sin t with t uniform on [1.5 pi, 4.5 pi], normalised to [-1, 1]."""
    u = _uniform(n, generator)
    return PointSet(spiral_curve(SPIRAL_T_MIN + (SPIRAL_T_MAX - SPIRAL_T_MIN) * u), u)


def swiss_roll(n: int, generator: torch.Generator) -> PointSet:
    """A filled roll: the spiral's curve, sampled uniformly by area in a band of radial
    half-width 0.06 around it, so it reads as a ribbon rather than a line."""
    # arc length of r = theta grows as theta^2 / 2 (for large theta): invert it
    u = _uniform(n, generator)
    theta = torch.sqrt(SPIRAL_T_MIN**2 + (SPIRAL_T_MAX**2 - SPIRAL_T_MIN**2) * u)
    radial = (2 * _uniform(n, generator) - 1) * 0.06 / SPIRAL_SCALE
    direction = torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)
    xy = (theta + radial)[:, None] * direction * SPIRAL_SCALE + SPIRAL_SHIFT
    return PointSet(xy, u)


def two_moons(n: int, generator: torch.Generator) -> PointSet:
    """Two interleaved half circles (the classic 'moons'), centred and scaled to [-1, 1]."""
    upper = _uniform(n, generator) < 0.5
    angle = math.pi * _uniform(n, generator)
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    xy = torch.stack([(x - 0.5) / 1.5, (y - 0.25) / 1.5], dim=-1)
    color = torch.where(upper, angle / math.pi * 0.5, 0.5 + angle / math.pi * 0.5)
    return PointSet(xy, color)


def eight_gaussians(n: int, generator: torch.Generator) -> PointSet:
    """Eight N(c_k, 0.05^2 I) blobs with centres c_k evenly spaced on the circle of radius 0.8."""
    k = torch.randint(0, 8, (n,), generator=generator)
    angle = k.double() * (2 * math.pi / 8)
    centres = 0.8 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
    xy = centres + 0.05 * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return PointSet(xy, k.double() / 7)


def checkerboard(n: int, generator: torch.Generator) -> PointSet:
    """Uniform on the 8 dark squares of a 4x4 board covering [-1, 1]^2."""
    cell = torch.randint(0, 8, (n,), generator=generator)
    row = cell // 2
    col = 2 * (cell % 2) + (row % 2)  # dark squares: (row + col) even
    offset = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    xy = (torch.stack([col, row], dim=-1).double() + offset) * 0.5 - 1.0
    return PointSet(xy, cell.double() / 7)


def rings(n: int, generator: torch.Generator) -> PointSet:
    """Three concentric circles of radius 1/3, 2/3 and 1, points in proportion to length."""
    radius_index = torch.multinomial(torch.tensor([1.0, 2.0, 3.0]), n, True, generator=generator)
    angle = 2 * math.pi * _uniform(n, generator)
    radius = (radius_index.double() + 1) / 3
    xy = radius[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
    return PointSet(xy, radius_index.double() / 2)


PATTERN_CLASSES = ("spiral", "moons", "circle", "eight Gaussians")


def circle(n: int, generator: torch.Generator) -> PointSet:
    """Uniform on the circle of radius 0.45."""
    u = _uniform(n, generator)
    angle = 2 * math.pi * u
    return PointSet(0.45 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1), u)


def patterns(n: int, generator: torch.Generator) -> PointSet:
    """Several patterns in one plane, one class each (PATTERN_CLASSES): the spiral, the two moons,
    a circle and the eight Gaussians, overlapping, in equal shares. The label is the class."""
    label = torch.randint(0, len(PATTERN_CLASSES), (n,), generator=generator)
    x = torch.empty(n, 2, dtype=torch.float64)
    for k, make in enumerate((spiral, two_moons, circle, eight_gaussians)):
        chosen = label == k
        x[chosen] = make(int(chosen.sum()), generator).x
    return PointSet(x, label.double() / (len(PATTERN_CLASSES) - 1), label)


POINT_SETS: dict[str, Callable[[int, torch.Generator], PointSet]] = {
    "spiral": spiral,
    "swiss_roll": swiss_roll,
    "two_moons": two_moons,
    "eight_gaussians": eight_gaussians,
    "checkerboard": checkerboard,
    "rings": rings,
    "patterns": patterns,
}


LABELLED = {"patterns": PATTERN_CLASSES, "digits": tuple(str(d) for d in range(10))}  # class names of labelled sets


def make_points(name: str, n: int, noise: float, generator: torch.Generator) -> PointSet:
    """n points of the named set plus N(0, noise^2 I) jitter, as float32 (N, 2)."""
    if name not in POINT_SETS:
        raise ValueError(f"unknown point set {name!r}; choose from {sorted(POINT_SETS)}")
    n = check_int("number of points", n, 1, MAX_POINTS)
    noise = check_float("noise", noise, 0.0, MAX_NOISE)
    points = POINT_SETS[name](n, generator)
    x = points.x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return PointSet(x.float(), points.color.float(), points.label)
