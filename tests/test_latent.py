"""DDIM inversion, reconstruction and interpolation, with the closed-form denoiser of Gaussian data."""

import math

import torch

from explorer.latent import ddim_decode, ddim_invert, error_curve, interpolate, lerp, round_trip, slerp
from explorer.schedules import make_schedule
from tests.test_samplers import MU, S2, exact_eps

SCHEDULE = make_schedule("linear", 1000)


def gaussian_data(n, seed=0):
    return MU + S2.sqrt() * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_round_trip_error_falls_with_steps_and_vanishes():
    errors = error_curve(exact_eps(SCHEDULE), SCHEDULE, gaussian_data(2000), steps=(5, 20, 100, 1000))
    values = [e for _, e in errors]
    assert [s for s, _ in errors] == [5, 20, 100, 1000]
    assert values[0] > values[1] > values[2] > values[3]
    assert values[0] > 0.05 and values[3] < 2e-5  # measured 0.136 and 8.9e-6
    # first order in the step: doubling S about quarters the MSE
    ratio = round_trip(exact_eps(SCHEDULE), SCHEDULE, gaussian_data(2000), steps=100).mse() / round_trip(
        exact_eps(SCHEDULE), SCHEDULE, gaussian_data(2000), steps=200).mse()  # fmt: skip
    assert 3.0 < ratio < 5.0


def test_inverted_gaussian_data_is_standard_normal():
    """For Gaussian data the flow map is affine: x_T ~ N(0, I) when the ODE is solved finely."""
    x_T, states = ddim_invert(exact_eps(SCHEDULE), SCHEDULE, gaussian_data(20_000), steps=1000, keep=True)
    assert len(states) == 1001 and torch.equal(states[-1], x_T)
    assert (x_T.mean(0).abs() < 0.05).all() and ((x_T.var(0) - 1).abs() < 0.05).all(), (x_T.mean(0), x_T.var(0))


def test_decode_of_the_exact_latent_recovers_the_data():
    """The exact latent of x0 (the affine map) decodes back to x0 with the ODE solved finely."""
    x0 = gaussian_data(500)
    a_T = math.sqrt(float(SCHEDULE.alpha_bar[-1]))
    sigma_T = math.sqrt(1 / float(SCHEDULE.alpha_bar[-1]) - 1)
    x_T = a_T * (MU + (x0 - MU) * torch.sqrt((S2 + sigma_T**2) / S2))
    assert (ddim_decode(exact_eps(SCHEDULE), SCHEDULE, x_T, steps=1000) - x0).abs().max() < 0.01


def test_slerp_keeps_norms_and_lerp_does_not():
    gen = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(16, 64, generator=gen), torch.randn(16, 64, generator=gen)
    z1 = z1 / z1.norm(dim=1, keepdim=True) * z0.norm(dim=1, keepdim=True)  # equal norms per item
    for alpha in (0.0, 0.25, 0.5, 0.9, 1.0):
        torch.testing.assert_close(slerp(z0, z1, alpha).norm(dim=1), z0.norm(dim=1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(slerp(z0, z1, 0.0), z0)
    torch.testing.assert_close(slerp(z0, z1, 1.0), z1, rtol=1e-5, atol=1e-5)
    # nearly orthogonal in 64 dimensions: the lerp midpoint has about 1/sqrt(2) of the norm
    shrink = (lerp(z0, z1, 0.5).norm(dim=1) / z0.norm(dim=1)).mean()
    assert 0.6 < shrink < 0.8
    same = slerp(z0, z0.clone(), 0.3)  # parallel: falls back to lerp, no NaN
    torch.testing.assert_close(same, z0)


def test_interpolation_ends_at_the_two_items_and_lerp_leaves_the_typical_set():
    schedule = make_schedule("linear", 1000)
    a, b = gaussian_data(1, seed=3), gaussian_data(1, seed=4)
    morph = interpolate(exact_eps(schedule), schedule, a, b, steps=500, frames=9)
    for name in ("slerp", "lerp"):
        assert morph.decoded[name].shape == (9, 2)
        assert abs(morph.decoded[name][0] - a[0].numpy()).max() < 0.02
        assert abs(morph.decoded[name][-1] - b[0].numpy()).max() < 0.02
    assert morph.norms["lerp"][4] < morph.norms["slerp"][4]
