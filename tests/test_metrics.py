"""Point metrics against closed forms."""

import math

import pytest
import torch

from explorer import data
from explorer.evaluation import metrics


def test_spiral_distance_on_and_off_the_curve(generator):
    on = data.make_points("spiral", 2000, 0.0, generator).x
    assert metrics.mean_spiral_distance(on) < 1e-6
    # step delta along the normal at theta = 3 pi (the arms are about 0.5 apart there)
    theta = torch.tensor([3 * math.pi], dtype=torch.float64)
    point = data.spiral_curve(theta)
    tangent = torch.stack(
        [torch.cos(theta) - theta * torch.sin(theta), torch.sin(theta) + theta * torch.cos(theta)], -1
    )
    normal = torch.stack([-tangent[:, 1], tangent[:, 0]], -1) / torch.linalg.norm(tangent)
    for delta in [0.01, 0.05, 0.1]:
        assert metrics.spiral_distance(point + delta * normal).item() == pytest.approx(delta, rel=1e-6)


def test_spiral_distance_of_pure_noise_matches_the_anchor(generator):
    # ANCHORS.md: N(0, I) points score about 0.515
    score = metrics.mean_spiral_distance(torch.randn(100_000, 2, generator=generator))
    assert score == pytest.approx(0.515, abs=0.005)


def test_sliced_wasserstein_of_a_shift(generator):
    """For b = a + delta, every projection's W1 is |delta . u|; over random 2-D directions
    E|cos| = 2/pi."""
    a = torch.randn(5000, 2, generator=generator)
    shift = torch.tensor([0.5, 0.0])
    sw = metrics.sliced_wasserstein(a, a + shift, torch.Generator().manual_seed(1), projections=5_000)  # se 0.7%
    assert sw == pytest.approx(0.5 * 2 / math.pi, rel=0.02)
    assert metrics.sliced_wasserstein(a, a, generator) == 0.0


def test_energy_distance_closed_form():
    """For point masses at 0 and at d (1-D): 2|d| - 0 - 0 = 2|d|; for a set against itself: 0;
    and it grows with a shift between two large samples of N(0, 1)."""
    zeros, shifted = torch.zeros(10, 1), torch.full((10, 1), 0.3)
    assert metrics.energy_distance(zeros, shifted) == pytest.approx(0.6)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 2, generator=g)
    assert metrics.energy_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    b = torch.randn(2000, 2, generator=g)
    assert metrics.energy_distance(a, b) < 0.01 < metrics.energy_distance(a, b + 0.5)


def test_the_spiral_distance_is_the_distance_to_the_nearest_point_of_the_curve():
    """Newton from a start every half turn of the point's polar angle (and both ends) against a brute-force
    search over 400,000 points of the curve, for points near it, between its arms, at its centre and far away:
    never farther than the dense search, and closer by at most the grid's own error."""
    import math

    from explorer.data.points import SPIRAL_T_MAX, SPIRAL_T_MIN, spiral_curve
    from explorer.evaluation.metrics import spiral_distance

    g = torch.Generator().manual_seed(1)
    on_curve = spiral_curve(SPIRAL_T_MIN + 3 * math.pi * torch.rand(500, generator=g, dtype=torch.float64))
    points = torch.cat([torch.randn(1500, 2, generator=g, dtype=torch.float64) * 0.5, on_curve + 0.02 *
                        torch.randn(500, 2, generator=g, dtype=torch.float64),
                        torch.randn(200, 2, generator=g, dtype=torch.float64) * 4])  # fmt: skip
    dense = spiral_curve(torch.linspace(SPIRAL_T_MIN, SPIRAL_T_MAX, 400_000, dtype=torch.float64))
    brute = torch.cat([torch.cdist(chunk, dense).min(1).values for chunk in points.split(500)])
    found = spiral_distance(points)
    assert float((found - brute).max()) < 1e-12 and float((brute - found).max()) < 1e-5
    assert float(spiral_distance(on_curve).max()) < 1e-9
