"""The ELBO's terms and the probability-flow ODE likelihood against independent derivations:
Monte Carlo KLs, closed-form Gaussian log-densities, Kingma et al.'s SNR form, enumeration."""

import math

import pytest
import torch

from explorer.core.discrete.loss import hybrid_loss, one_hot, prior_kl
from explorer.core.discrete.process import make_process, q_probs
from explorer.core.gaussian import score_from_eps, tweedie_x0
from explorer.core.ideal import empirical_score
from explorer.core.likelihood import (
    decoder_term,
    discretized_gaussian_log_probs,
    elbo_weight,
    gaussian_kl,
    posterior_x0_coefficient,
    prior_term,
    transition_term,
)
from explorer.core.schedules import make_schedule
from explorer.evaluation.elbo import discrete_elbo, gaussian_elbo, strata
from explorer.evaluation.ode_likelihood import drift_and_divergence, ode_grid, ode_log_likelihood
from explorer.sampling.gaussian import Estimator, scales

MU = torch.tensor([0.3, -0.2], dtype=torch.float64)
SIGMA = torch.tensor([[0.25, 0.1], [0.1, 0.16]], dtype=torch.float64)


def gaussian_eps(schedule, mu=MU, cov=SIGMA):
    """The exact E[eps | x_t] for data N(mu, cov): s (a^2 cov + s^2 I)^-1 (x_t - a mu), for one shared
    index t or one per row."""
    a_table, s_table = schedule.sqrt_alpha_bar, schedule.sqrt_one_minus_alpha_bar

    def model(x, t):
        t = torch.as_tensor(t).reshape(-1).expand(x.shape[0])
        a, s = a_table[t].to(x.dtype)[:, None, None], s_table[t].to(x.dtype)[:, None, None]
        marginal = a**2 * cov.to(x.dtype) + s**2 * torch.eye(2, dtype=x.dtype)
        return s[:, :, 0] * torch.linalg.solve(marginal, x - a[:, :, 0] * mu.to(x.dtype))

    return model


def gaussian_points(n, generator):
    """n draws of N(MU, SIGMA) from the test's own generator (never the global one)."""
    return MU + torch.randn(n, 2, generator=generator, dtype=torch.float64) @ torch.linalg.cholesky(SIGMA).T


def log_normal(x, mu=MU, cov=SIGMA):
    return torch.distributions.MultivariateNormal(mu, cov).log_prob(x)


def test_gaussian_kl_matches_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    m1, v1, m2, v2 = 0.4, 0.3, -0.1, 0.7
    x = m1 + math.sqrt(v1) * torch.randn(400_000, generator=gen, dtype=torch.float64)
    log_ratio = torch.distributions.Normal(m1, math.sqrt(v1)).log_prob(x) - torch.distributions.Normal(
        m2, math.sqrt(v2)).log_prob(x)  # fmt: skip
    exact = float(gaussian_kl(torch.tensor(m1), v1, torch.tensor(m2), v2))
    assert abs(float(log_ratio.mean()) - exact) < 4 * float(log_ratio.std()) / math.sqrt(x.numel())
    assert exact > 0


def test_the_discretised_decoder_is_a_distribution_over_the_17_levels():
    levels = torch.linspace(-1, 1, 17, dtype=torch.float64)
    for mean, std in [(0.0, 0.05), (0.93, 0.2), (-1.4, 0.01), (3.0, 1.0), (0.51, 1e-4)]:
        log_p = discretized_gaussian_log_probs(levels, torch.full_like(levels, mean), std, 17)
        assert float(log_p.exp().sum()) == pytest.approx(1.0, abs=1e-9)
    # a sharp decoder puts its mass on the level it sits on
    log_p = discretized_gaussian_log_probs(levels, torch.full_like(levels, levels[5].item()), 1e-3, 17)
    assert float(log_p[5].exp()) == pytest.approx(1.0, abs=1e-9)
    assert torch.isfinite(log_p).all()  # far tails fall back on the density, never log(0)


def test_transition_term_with_the_posterior_variance_is_the_snr_difference():
    """Kingma et al. 2021: with sigma_t^2 = beta~_t, L_{t-1} = (SNR(t-1) - SNR(t)) / 2 |x0 - x0_hat|^2."""
    schedule = make_schedule("cosine", 200)
    gen = torch.Generator().manual_seed(1)
    x0, x0_hat = torch.randn(6, 3, generator=gen, dtype=torch.float64), torch.randn(6, 3, generator=gen,
                                                                                  dtype=torch.float64)  # fmt: skip
    t = torch.tensor([1, 5, 40, 100, 150, 199])
    snr_prev = schedule.alpha_bar_prev[t] / (1 - schedule.alpha_bar_prev[t])
    expected = (snr_prev - schedule.snr[t]) / 2 * ((x0 - x0_hat) ** 2).sum(1)
    torch.testing.assert_close(transition_term(schedule, t, x0, x0_hat, "beta_tilde"), expected, rtol=1e-9, atol=0)
    # beta adds the variance mismatch, D/2 (log(beta / beta~) + beta~ / beta - 1) >= 0, to a smaller mean term
    larger = transition_term(schedule, t, x0, x0, "beta")
    assert (larger > 0).all()


def test_elbo_weight_is_eq_12_of_the_eps_error():
    """The ELBO's mean term written in eps: coef_x0^2 |x0 - x0_hat|^2 / (2 sigma^2) = w_t |eps - eps_hat|^2."""
    schedule = make_schedule("linear", 1000)
    t = torch.tensor([1, 10, 500, 999])
    a, s = schedule.sqrt_alpha_bar[t], schedule.sqrt_one_minus_alpha_bar[t]
    coef = posterior_x0_coefficient(schedule)[t]
    # x0 - x0_hat = -(s / a) (eps - eps_hat) at a fixed x_t
    sigma2 = schedule.betas[t]
    from_x0 = coef**2 * (s / a) ** 2 / (2 * sigma2)
    torch.testing.assert_close(elbo_weight(schedule, "beta")[t], from_x0, rtol=1e-9, atol=0)


def test_prior_term_is_zero_for_rectified_flow_and_small_for_linear():
    x0 = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    assert float(prior_term(make_schedule("flow", 100), x0)) == pytest.approx(0.0, abs=1e-12)
    ab = float(make_schedule("linear", 1000).alpha_bar[-1])
    closed = 0.5 * sum(ab * v**2 + (1 - ab) - 1 - math.log(1 - ab) for v in (0.5, -1.0))
    assert float(prior_term(make_schedule("linear", 1000), x0)) == pytest.approx(closed, rel=1e-9)


@pytest.mark.parametrize("T", [100, 1000])
def test_the_elbo_bounds_the_exact_gaussian_nll_and_tightens_with_T(T):
    """Data N(mu, Sigma) with the exact denoiser: E[ELBO total] >= E[-log N] (a bound), and the gap
    shrinks as T grows (the continuous-time limit is tight for the exact model)."""
    gen = torch.Generator().manual_seed(2)
    x0 = gaussian_points(2000, gen)
    nll = float(-log_normal(x0).mean())
    gaps = {}
    for steps in (T // 10, T):
        schedule = make_schedule("linear", steps)
        elbo = gaussian_elbo(gaussian_eps(schedule), schedule, "eps", x0, gen, every=1, variance="beta_tilde")
        gaps[steps] = elbo.total - nll
        assert elbo.total >= nll - 3 * elbo.stderr
    assert gaps[T] < gaps[T // 10]


@pytest.mark.parametrize("T, every", [(1000, 10), (200, 20), (1000, 1), (5, 10), (1000, 1000)])
def test_the_strata_cover_every_term_once_and_are_no_wider_than_where_they_start(T, every):
    runs = strata(T, every)
    assert [t for run in runs for t in run] == list(range(1, T))
    assert all(1 <= len(run) <= min(every, run.start) for run in runs)
    assert all(len(run) == every for run in runs[:-1] if run.start >= every)  # from t = every on, runs of every


def test_the_respaced_elbo_is_unbiased_for_the_full_one():
    schedule = make_schedule("linear", 200)
    gen = torch.Generator().manual_seed(3)
    x0 = gaussian_points(3000, gen)
    model = gaussian_eps(schedule, MU, SIGMA * 1.5)  # a wrong model: the terms are not all tiny
    full = gaussian_elbo(model, schedule, "eps", x0, gen, every=1)
    fast = gaussian_elbo(model, schedule, "eps", x0, gen, every=20)
    assert fast.nfe == len(strata(200, 20)) + 1 == 15 and full.nfe == 200
    assert abs(fast.total - full.total) < 4 * math.hypot(fast.stderr, full.stderr)


@pytest.mark.parametrize("name, steps, tolerance", [("cosine", 1000, 1e-3), ("cosine", 200, 1e-2),
                                                    ("linear", 1000, 1e-2)])  # fmt: skip
def test_the_ode_likelihood_of_gaussian_data_is_the_closed_form(name, steps, tolerance):
    """The exact denoiser of N(mu, Sigma): the probability-flow ODE gives log N(x; mu, Sigma), to 1e-3
    nats in 1000 steps where the prior is exact (cosine: ab_T = 2e-9). The linear schedule's
    ab_T = 4e-5 leaves sqrt(ab_T) mu of signal at T, which the N(0, I) prior ignores: a few 1e-3 nats."""
    schedule = make_schedule(name, 1000)
    gen = torch.Generator().manual_seed(4)
    x0 = gaussian_points(64, gen)
    estimate = Estimator(gaussian_eps(schedule), schedule, "eps")
    result = ode_log_likelihood(estimate, x0, steps, gen)
    assert (result.log_p - log_normal(x0)).abs().max() < tolerance
    assert result.nfe == 2 * len(ode_grid(schedule, steps)) - 1


def test_the_ode_likelihood_of_a_rectified_flow_ends_one_step_before_pure_noise():
    schedule = make_schedule("flow", 1000)
    grid = ode_grid(schedule, 100)
    assert grid[-1] == 998 and grid[0] == 0
    gen = torch.Generator().manual_seed(5)
    x0 = gaussian_points(32, gen)
    result = ode_log_likelihood(Estimator(gaussian_eps(schedule), schedule, "eps"), x0, 400, gen)
    assert (result.log_p - log_normal(x0)).abs().max() < 1e-2


def test_hutchinson_divergence_is_unbiased_and_exact_divergence_is_the_trace():
    gen = torch.Generator().manual_seed(6)
    A = torch.randn(5, 5, generator=gen, dtype=torch.float64)
    schedule = make_schedule("linear", 100)
    estimate = Estimator(lambda x, t: x @ A.T, schedule, "eps")
    a, _ = scales(schedule, 30)
    x = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    _, exact = drift_and_divergence(estimate, x, 30, None)
    torch.testing.assert_close(exact, torch.full((3,), a * float(A.trace()), dtype=torch.float64))
    probes = (torch.randint(0, 2, (4000, 3, 5), generator=gen) * 2 - 1).double()
    estimates = torch.stack([drift_and_divergence(estimate, x, 30, p[None])[1] for p in probes[:2000]])
    mean, se = estimates.mean(0), estimates.std(0) / math.sqrt(estimates.shape[0])
    assert ((mean - exact).abs() < 4 * se).all()
    assert float(se.max()) > 0  # the probes do vary


class PerPixel(torch.nn.Module):
    """A fake D3PM network: each pixel's logits a fixed linear function of its one-hot state and the step."""

    def __init__(self, states, K):
        super().__init__()
        gen = torch.Generator().manual_seed(7)
        self.w = torch.randn(K, states, generator=gen, dtype=torch.float64)
        self.b = torch.randn(K, generator=gen, dtype=torch.float64)

    def forward(self, onehot, k):
        k = torch.as_tensor(k, dtype=torch.float64).reshape(-1, 1, 1, 1)
        logits = torch.einsum("ks,bshw->bkhw", self.w, onehot.double())
        return logits + 0.01 * k * self.b[None, :, None, None]


@pytest.mark.parametrize("transition", ["uniform", "absorbing"])
def test_the_d3pm_elbo_is_the_sum_of_the_hybrid_loss_terms(transition):
    """Enumerating x_k: L_T + sum_k E_q[L_vb at k] (the hybrid loss at lambda = 0, per position)
    equals the Monte Carlo estimate of discrete_elbo within its standard error."""
    K, T = 3, 6
    process = make_process(transition, K, T)
    model = PerPixel(process.states, K)
    x0 = torch.tensor([0, 2]).view(1, 1, 1, 2)
    exact = float(prior_kl(process, x0).sum())
    for k in range(T):
        for pos in range(2):  # positions are independent for a per-pixel model
            q = q_probs(process, x0[0, 0, 0, pos], k)  # (S,)
            states = torch.arange(process.states).view(-1, 1, 1, 1)
            x0_pos = x0[..., pos : pos + 1].expand(process.states, 1, 1, 1)
            logits = model(one_hot(states[:, 0], process.states).permute(0, 3, 1, 2), k).permute(0, 2, 3, 1)
            per_state = torch.stack([hybrid_loss(process, logits[s : s + 1].unsqueeze(1), x0_pos[s : s + 1],
                                                 states[s : s + 1], k, hybrid_lambda=0.0)
                                     for s in range(process.states)])  # fmt: skip
            exact += float((q * per_state).sum())
    gen = torch.Generator().manual_seed(8)
    result = discrete_elbo(model, process, x0.expand(6000, 1, 1, 2).contiguous(), gen, every=1)
    total_nats = result.total * 2 * math.log(2)
    assert abs(total_nats - exact) < 4 * result.stderr * 2 * math.log(2)
    assert result.unit == "bits/dim" and result.nfe == T


def test_decoder_term_of_points_is_a_gaussian_density():
    schedule = make_schedule("linear", 1000)
    x0 = torch.tensor([[0.1, 0.2]], dtype=torch.float64)
    x0_hat = torch.tensor([[0.12, 0.18]], dtype=torch.float64)
    for variance, var in (("beta", float(schedule.betas[0])), ("beta_tilde", float(schedule.beta_tilde[1]))):
        expected = -torch.distributions.Normal(x0_hat, math.sqrt(var)).log_prob(x0).sum()
        torch.testing.assert_close(decoder_term(schedule, x0, x0_hat, variance, None)[0], expected)


def test_the_empirical_score_is_the_gradient_of_the_noised_mixtures_log_density():
    schedule = make_schedule("cosine", 100)
    gen = torch.Generator().manual_seed(3)
    train = torch.randn(7, 2, generator=gen, dtype=torch.float64)
    x = (2 * torch.randn(50, 2, generator=gen, dtype=torch.float64)).requires_grad_(True)
    for t in (0, 30, 99):
        a, s = float(schedule.sqrt_alpha_bar[t]), float(schedule.sqrt_one_minus_alpha_bar[t])
        mixture = torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(torch.ones(7, dtype=torch.float64)),
            torch.distributions.Independent(torch.distributions.Normal(a * train, s), 1))  # fmt: skip
        log_q = mixture.log_prob(x)
        (grad,) = torch.autograd.grad(log_q.sum(), x)
        score, ours = empirical_score(schedule, x.detach(), t, train)
        assert torch.allclose(ours, log_q.detach(), atol=1e-9)
        assert torch.allclose(score, grad, rtol=1e-6, atol=1e-6)


def test_score_and_tweedie_from_the_exact_noise_predictor_of_gaussian_data():
    schedule = make_schedule("linear", 200)
    eps_model = gaussian_eps(schedule)
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for t in (0, 60, 199):
        a, s = float(schedule.sqrt_alpha_bar[t]), float(schedule.sqrt_one_minus_alpha_bar[t])
        marginal = a**2 * SIGMA + s**2 * torch.eye(2, dtype=torch.float64)
        centred = torch.linalg.solve(marginal, (x - a * MU).T).T  # M^-1 (x - a mu)
        score = score_from_eps(schedule, t, eps_model(x, t))
        assert torch.allclose(score, -centred, atol=1e-10)  # grad log N(x; a mu, M)
        x0 = tweedie_x0(schedule, x, t, score)
        assert torch.allclose(x0, MU + a * centred @ SIGMA, atol=1e-9)  # E[x0|x] = mu + a Sigma M^-1 (x - a mu)
