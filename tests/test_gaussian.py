"""The forward process: shortcut vs chain (Monte Carlo), the posterior vs Bayes, conversions."""

import math

import numpy as np
import pytest
import torch

from explorer.core.gaussian import (
    eps_from_v,
    eps_from_x0,
    marginal_pdf,
    q_chain,
    q_posterior,
    q_sample,
    standard_normal_pdf,
    v_from_eps_x0,
    x0_from_eps,
    x0_from_v,
)
from explorer.core.schedules import make_schedule

N = 200_000
Z = 5.0  # tolerances are Z standard errors of the Monte Carlo estimate


@pytest.mark.parametrize("name", ["linear", "cosine"])
@pytest.mark.parametrize("index", [0, 9, 99, 499])
def test_shortcut_and_chain_agree_in_distribution(name, index):
    s = make_schedule(name, 500)
    x0 = torch.tensor([0.8, -0.3]).repeat(N // 2, 1).reshape(-1, 1).double()  # a two-point data set
    gen = torch.Generator().manual_seed(index)
    shortcut = q_sample(s, x0, index, torch.randn(x0.shape, generator=gen, dtype=torch.float64))
    chain = q_chain(s, x0, index, gen)
    # closed form for this data: mean sqrt(ab) E[x0], variance (1 - ab) + ab Var[x0]
    ab = s.alpha_bar[index].item()
    mean, var = math.sqrt(ab) * 0.25, (1 - ab) + ab * 0.55**2
    for sample in (shortcut, chain):
        assert abs(sample.mean().item() - mean) < Z * math.sqrt(var / N)
        assert abs(sample.var().item() - var) < Z * var * math.sqrt(2 / (N - 1))
    assert abs(shortcut.mean().item() - chain.mean().item()) < Z * math.sqrt(2 * var / N)


def test_chain_per_point_moments():
    """Given each x0, the chain's x_t has mean sqrt(ab) x0 and variance 1 - ab (eq. 4)."""
    s = make_schedule("linear", 200)
    x0 = torch.full((N, 1), 0.9, dtype=torch.float64)
    x = q_chain(s, x0, 59, torch.Generator().manual_seed(0))
    ab = s.alpha_bar[59].item()
    assert abs(x.mean().item() - math.sqrt(ab) * 0.9) < Z * math.sqrt((1 - ab) / N)
    assert abs(x.var().item() - (1 - ab)) < Z * (1 - ab) * math.sqrt(2 / (N - 1))


@pytest.mark.parametrize("index", [1, 10, 250, 998])
def test_posterior_matches_bayes_rule_on_a_grid(index):
    """q(x_{t-1} | x_t, x0) proportional to q(x_t | x_{t-1}) q(x_{t-1} | x0), integrated numerically."""
    s = make_schedule("cosine", 1000)
    x0, xt = 0.6, -0.4
    a, ab_prev = s.alphas[index].item(), s.alpha_bar_prev[index].item()
    grid = np.linspace(-8, 8, 400_001)
    log_w = -((xt - math.sqrt(a) * grid) ** 2) / (2 * (1 - a)) - (grid - math.sqrt(ab_prev) * x0) ** 2 / (
        2 * (1 - ab_prev)
    )
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    bayes_mean = (w * grid).sum()
    bayes_var = (w * (grid - bayes_mean) ** 2).sum()
    mean, var = q_posterior(s, torch.tensor([[x0]]), torch.tensor([[xt]]).double(), index)
    assert mean.item() == pytest.approx(bayes_mean, abs=1e-6)
    assert var.item() == pytest.approx(bayes_var, rel=1e-4)


def test_posterior_at_first_step_is_the_data():
    s = make_schedule("linear", 100)
    x0 = torch.tensor([[0.3, -0.7]])
    mean, var = q_posterior(s, x0, torch.tensor([[5.0, 5.0]]), 0)
    torch.testing.assert_close(mean, x0)
    assert var.item() == 0.0


def test_conversions_round_trip(generator):
    s = make_schedule("cosine", 1000)
    x0 = torch.randn(64, 1, 8, 8, generator=generator, dtype=torch.float64)
    eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    t = torch.randint(0, 999, (64,), generator=generator)
    xt = q_sample(s, x0, t, eps)
    v = v_from_eps_x0(s, t, eps, x0)
    torch.testing.assert_close(x0_from_eps(s, xt, t, eps), x0)
    torch.testing.assert_close(eps_from_x0(s, xt, t, x0), eps)
    torch.testing.assert_close(x0_from_v(s, xt, t, v), x0)
    torch.testing.assert_close(eps_from_v(s, xt, t, v), eps)


def test_v_recovers_x0_at_zero_terminal_snr(generator):
    """Where alpha_bar = 0 the eps route divides by zero but v still gives x0 = -v."""
    s = make_schedule("linear", 100, zero_terminal_snr=True)
    x0 = torch.randn(8, 2, generator=generator, dtype=torch.float64)
    eps = torch.randn(8, 2, generator=generator, dtype=torch.float64)
    xt = q_sample(s, x0, 99, eps)
    torch.testing.assert_close(xt, eps)
    torch.testing.assert_close(x0_from_v(s, xt, 99, v_from_eps_x0(s, 99, eps, x0)), x0)


def test_marginal_pdf_is_a_density_and_reaches_the_standard_normal():
    v = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    centres = torch.tensor([-0.9, 0.1, 0.8], dtype=torch.float64)
    pdf = marginal_pdf(v, centres, 0.7, 0.5)
    assert torch.trapezoid(pdf, v).item() == pytest.approx(1.0, abs=1e-9)
    assert torch.trapezoid(pdf * v, v).item() == pytest.approx(0.7 * 0.0, abs=1e-9)
    torch.testing.assert_close(marginal_pdf(v, centres, 0.0, 1.0), standard_normal_pdf(v))
    with pytest.raises(ValueError):
        marginal_pdf(v, centres, 1.0, 0.0)
