"""D3PM's transition matrices, marginals, posterior and loss, against independent derivations."""

import math

import pytest
import torch

from explorer.discrete import (
    TRANSITIONS,
    hybrid_loss,
    make_process,
    one_hot,
    q_posterior,
    q_probs,
    q_sample,
    stationary,
)


@pytest.mark.parametrize("transition", TRANSITIONS)
def test_rows_are_distributions_and_qbar_is_the_product(transition):
    p = make_process(transition, 5, 40)
    for M in (p.Q, p.Qbar):
        assert (M >= 0).all()
        torch.testing.assert_close(M.sum(-1), torch.ones(M.shape[:-1], dtype=torch.float64), rtol=0, atol=1e-12)
    running = torch.eye(p.states, dtype=torch.float64)
    for k in range(p.T):
        running = running @ p.Q[k]
        torch.testing.assert_close(p.Qbar[k], running, rtol=0, atol=1e-12)


@pytest.mark.parametrize("transition", TRANSITIONS)
def test_stationary_distribution(transition):
    p = make_process(transition, 17, 1000)  # the digits' 17 grey levels
    pi = stationary(p)
    for k in (0, 500, 999):  # a fixed point of every step
        torch.testing.assert_close(pi @ p.Q[k], pi, rtol=0, atol=1e-12)
    # and where the chain ends: exactly for uniform (abar_T = 0) and absorbing, nearly for the Gaussian kernel
    # (its bandwidth scales with (K - 1)^2: with the linear schedule it mixes for K of about 16 and up; K = 5
    # keeps 80% on the diagonal at T = 1000)
    tolerance = 0.002 if transition == "gaussian" else 1e-9
    assert (p.Qbar[-1] - pi).abs().max() < tolerance, (p.Qbar[-1] - pi).abs().max()


def test_absorbing_keeps_t_over_T_unmasked():
    p = make_process("absorbing", 4, 10)
    for k in range(10):  # paper's t = k + 1: (T - t) / T of positions still unmasked
        assert float(p.Qbar[k, 0, 0]) == pytest.approx((10 - (k + 1)) / 10, abs=1e-12)


@pytest.mark.parametrize("transition", TRANSITIONS)
def test_posterior_is_bayes_rule(transition):
    """q(x_{k-1} = s | x_k, x0) = q(x_k | s) q(s | x0) / q(x_k | x0), the denominator from Qbar_k itself."""
    p = make_process(transition, 4, 12)
    k = 6
    for x0 in range(p.K):
        for xt in range(p.states):
            evidence = float(p.Qbar[k, x0, xt])
            if evidence == 0:
                continue
            brute = torch.tensor([float(p.Q[k, s, xt] * p.Qbar[k - 1, x0, s]) / evidence for s in range(p.states)],
                                 dtype=torch.float64)  # fmt: skip
            ours = q_posterior(p, one_hot(torch.tensor(x0), p.states), torch.tensor(xt), k)
            torch.testing.assert_close(ours, brute, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("transition", TRANSITIONS)
def test_monte_carlo_marginals(transition):
    p = make_process(transition, 6, 50)
    n, k = 40_000, 20
    x0 = torch.full((n,), 2, dtype=torch.long)
    x = q_sample(p, x0, k, torch.Generator().manual_seed(0))
    freq = torch.bincount(x, minlength=p.states).double() / n
    expected = q_probs(p, torch.tensor(2), k)
    se = (expected * (1 - expected) / n).sqrt()
    assert ((freq - expected).abs() <= 5 * se + 1e-9).all(), (freq, expected)


def test_hybrid_loss_is_finite_and_smallest_for_the_truth():
    p = make_process("uniform", 5, 30)
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randint(0, 5, (256,), generator=gen)
    k = 10
    xt = q_sample(p, x0, k, gen)
    truth = 50.0 * one_hot(x0, 5)  # p(x0 | x_t) concentrated on the truth
    wrong = 50.0 * one_hot((x0 + 1) % 5, 5)
    extreme = 1e4 * (2 * one_hot(x0, 5) - 1)  # softmax underflows to exact zeros
    losses = {name: float(hybrid_loss(p, logits, x0, xt, k)) for name, logits in
              (("truth", truth), ("wrong", wrong), ("extreme", extreme), ("flat", torch.zeros(256, 5)))}  # fmt: skip
    assert all(math.isfinite(v) for v in losses.values()), losses
    assert losses["truth"] < losses["flat"] < losses["wrong"], losses
    assert abs(losses["truth"]) < 1e-6 and losses["extreme"] < 1e-6
    assert float(hybrid_loss(p, -extreme, x0, xt, k)) < 1e4  # the worst guess: large, but finite
    assert math.isfinite(float(hybrid_loss(p, truth, x0, xt, 0)))


def test_absorbing_loss_and_bad_settings():
    p = make_process("absorbing", 4, 20)
    x0 = torch.tensor([0, 1, 2, 3])
    xt = torch.tensor([4, 1, 4, 3])  # two masked
    assert math.isfinite(float(hybrid_loss(p, torch.zeros(4, 4), x0, xt, 5)))
    with pytest.raises(ValueError, match="unknown transition"):
        make_process("swap", 4, 10)
    with pytest.raises(ValueError, match="categories K must be between 2 and 256"):
        make_process("uniform", 1, 10)
