"""Discrete models: skipping transitions, batched posteriors and losses, and the reverse sampler
against exact answers (closed forms, Bayes' rule, and an exact denoiser's marginals)."""

import math

import pytest
import torch

from explorer.core.discrete.loss import hybrid_loss, one_hot
from explorer.core.discrete.process import TRANSITIONS, make_process, q_posterior, transition_between
from explorer.sampling.discrete import prior_sample, reverse_steps, visited


@pytest.mark.parametrize("transition", ["uniform", "absorbing"])
def test_transition_between_matches_the_closed_form(transition):
    p = make_process(transition, 4, 30)
    abar = torch.cumprod(1 - p.betas, 0)
    s, k = 7, 19
    ratio = float(abar[k] / abar[s])  # Q_{s->k} is the one-step form with abar_k / abar_s kept
    eye = torch.eye(p.states, dtype=torch.float64)
    if transition == "uniform":
        expected = ratio * eye + (1 - ratio) * torch.full_like(eye, 1 / p.K)
    else:
        expected = ratio * eye
        expected[:, p.K] += 1 - ratio
        expected[p.K] = 0.0
        expected[p.K, p.K] = 1.0
    torch.testing.assert_close(transition_between(p, s, k), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("transition", TRANSITIONS)
def test_skipping_posterior_is_bayes_rule(transition):
    p = make_process(transition, 4, 30)
    s, k = 5, 17
    forward = transition_between(p, s, k)
    torch.testing.assert_close(p.Qbar[s] @ forward, p.Qbar[k], rtol=0, atol=1e-12)  # Chapman-Kolmogorov
    for x0 in range(p.K):
        for xt in range(p.states):
            evidence = p.Qbar[k][x0, xt]
            if evidence < 1e-12:
                continue
            brute = torch.tensor([forward[j, xt] * p.Qbar[s][x0, j] / evidence for j in range(p.states)])
            got = q_posterior(p, one_hot(torch.tensor(x0), p.states), torch.tensor(xt), k, s)
            torch.testing.assert_close(got, brute, rtol=0, atol=1e-12)


@pytest.mark.parametrize("transition", TRANSITIONS)
def test_batched_posterior_and_loss_equal_the_per_row_ones(transition):
    p = make_process(transition, 5, 20)
    gen = torch.Generator().manual_seed(0)
    B = 6
    k = torch.tensor([0, 1, 5, 10, 19, 3])
    x0 = torch.randint(0, p.K, (B, 1, 3, 3), generator=gen)
    xt = torch.randint(0, p.states, (B, 1, 3, 3), generator=gen)
    probs = torch.softmax(torch.randn(B, 1, 3, 3, p.states, generator=gen, dtype=torch.float64), -1)
    batched = q_posterior(p, probs, xt, k)
    for b in range(B):
        torch.testing.assert_close(batched[b], q_posterior(p, probs[b], xt[b], int(k[b])), rtol=0, atol=1e-12)
    logits = torch.randn(B, 1, 3, 3, p.K, generator=gen, dtype=torch.float64)
    per_row = torch.stack([hybrid_loss(p, logits[b], x0[b], xt[b], int(k[b])) for b in range(B)])
    torch.testing.assert_close(hybrid_loss(p, logits, x0, xt, k), per_row.mean(), rtol=1e-12, atol=0)


class PriorDenoiser(torch.nn.Module):
    """The p~(x0 | x_t) that makes eq. 4 exact for data whose pixels are independent with marginal pi.
    Eq. 4 sums the joint q(x_s, x_k | x0) = q(x_k | x_s) q(x_s | x0) against p~, so the step is
    q(x_k | x_s) (pi Qbar_s)(x_s) normalised over x_s, which is Bayes' q(x_s | x_k) exactly when
    p~ = pi: the likelihood q(x_k | x0) must not be counted twice."""

    def __init__(self, pi):
        super().__init__()
        self.log_pi = torch.log(pi.float())

    def forward(self, one_hot_x, k):
        B, _, H, W = one_hot_x.shape
        return self.log_pi[None, :, None, None].expand(B, -1, H, W)


@pytest.mark.parametrize("transition", TRANSITIONS)
@pytest.mark.parametrize("steps", [3, 50])
def test_reverse_chain_reproduces_the_data_marginal(transition, steps):
    """With independent pixels and the exact p~, each reverse step draws x_s from q(x_s | x_k), so
    whatever the number of steps (any skip uses Q_{s -> k}) the samples' levels have the data marginal."""
    K, T, n = 4, 50, 4000
    p = make_process(transition, K, T)
    pi = torch.tensor([0.5, 0.1, 0.3, 0.1], dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    if transition == "gaussian":  # its kernel does not reach the uniform limit for K = 4: start from q(x_T)
        marginal = pi @ p.Qbar[T - 1]
        x_T = torch.multinomial(marginal.float(), n * 4, replacement=True, generator=gen).view(n, 1, 2, 2)
    else:
        x_T = prior_sample(p, (n, 1, 2, 2), gen)
    padded = torch.cat([pi, torch.zeros(p.states - K, dtype=torch.float64)])  # absorbing: no mass on [MASK]
    for step in reverse_steps(PriorDenoiser(pi), p, x_T, steps, gen):
        expected = padded @ p.Qbar[step.s] if step.s >= 0 else padded
        freq = torch.bincount(step.x.flatten(), minlength=p.states).double() / step.x.numel()
        tolerance = 5 * math.sqrt(0.25 / step.x.numel())
        assert (freq - expected).abs().max() < tolerance, (step.s, freq, expected)
    assert step.nfe == steps and step.s == -1


def test_visited_steps_and_absorbing_keeps_what_it_unmasked():
    assert visited(10, 10) == list(range(9, -1, -1))
    assert visited(1000, 4) == [999, 666, 333, 0]
    with pytest.raises(ValueError, match="reverse steps"):
        visited(10, 11)
    p = make_process("absorbing", 4, 20)
    pi = torch.full((4,), 0.25, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    trajectory = list(reverse_steps(PriorDenoiser(pi), p, prior_sample(p, (8, 1, 3, 3), gen), 20, gen))
    masked = [int((step.x == p.mask).sum()) for step in trajectory]
    assert masked == sorted(masked, reverse=True) and masked[-1] == 0  # masks only ever lift
    for before, after in zip(trajectory, trajectory[1:], strict=False):
        kept = before.x != p.mask
        assert torch.equal(after.x[kept], before.x[kept])  # an unmasked pixel never changes
