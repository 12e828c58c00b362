"""The variance-exploding and sub-VP processes (Song et al. 2021), each against an independent derivation:
closed forms, the SDE's moment equations, Monte Carlo, and the equivalence with the VP process of the
same SNR; the predictor-corrector sampler and the likelihood on VE with the exact Gaussian denoiser."""

import math

import pytest
import torch

from explorer.core.gaussian import q_chain, q_sample
from explorer.core.likelihood import prior_term
from explorer.core.schedules import (
    VE_SIGMA_MIN,
    VP_BETA_MAX,
    VP_BETA_MIN,
    _from_scales,
    make_schedule,
    ve_sigma_max,
)
from explorer.evaluation.ode_likelihood import ode_log_likelihood
from explorer.sampling.corrector import langevin_correct, predictor_corrector_steps
from explorer.sampling.gaussian import Estimator, ddpm_steps, euler_maruyama_steps, last, vp_factor
from explorer.sampling.registry import SamplerSettings, sample_steps
from explorer.sampling.spacings import timesteps
from tests.oracles import MU, S2, counted, exact_flow, gaussian_data, x_T


def test_ve_noise_levels_are_geometric_from_sigma_min_to_sigma_max():
    schedule = make_schedule("ve", 100, sigma_max=5.0)
    sigma = schedule.sqrt_one_minus_alpha_bar
    ratios = sigma[1:] / sigma[:-1]
    assert torch.allclose(ratios, torch.full_like(ratios, (5.0 / VE_SIGMA_MIN) ** 0.01), rtol=1e-12)
    assert float(sigma[-1]) == pytest.approx(5.0, rel=1e-12) and schedule.prior_std == 5.0
    assert torch.all(schedule.sqrt_alpha_bar == 1.0)
    # the VP process of the same SNR: alpha_bar = 1 / (1 + sigma^2), SNR = 1 / sigma^2
    assert torch.allclose(schedule.alpha_bar, 1 / (1 + sigma**2), rtol=1e-12)
    assert torch.allclose(schedule.log_snr, -2 * sigma.log(), rtol=1e-10)


def test_ve_sigma_max_is_the_largest_pairwise_distance():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    assert ve_sigma_max(x) == pytest.approx(5.0)


def test_sub_vp_variance_solves_its_sdes_moment_equation():
    """Song et al. 2021, eq. 11: dx = -beta/2 x dt + sqrt(beta (1 - e^{-2 B})) dw. Its variance obeys
    dV/dt = -beta V + beta (1 - e^{-2 B}) and its mean dm/dt = -beta m / 2; integrated by RK4 from (x0, 0),
    they must give the schedule's s_t^2 and a_t x0. Its variance stays under the VP process's."""
    schedule = make_schedule("subvp", 200)
    beta = lambda t: VP_BETA_MIN + t * (VP_BETA_MAX - VP_BETA_MIN)  # noqa: E731
    B = lambda t: VP_BETA_MIN * t + 0.5 * (VP_BETA_MAX - VP_BETA_MIN) * t**2  # noqa: E731
    f = lambda t, m, v: (-0.5 * beta(t) * m, -beta(t) * v + beta(t) * (1 - math.exp(-2 * B(t))))  # noqa: E731
    m, v, h, t = 1.0, 0.0, 1e-4, 0.0
    for k in range(10_000):
        k1 = f(t, m, v)
        k2 = f(t + h / 2, m + h / 2 * k1[0], v + h / 2 * k1[1])
        k3 = f(t + h / 2, m + h / 2 * k2[0], v + h / 2 * k2[1])
        k4 = f(t + h, m + h * k3[0], v + h * k3[1])
        m += h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        v += h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        t = (k + 1) * h
        if (k + 1) % 50 == 0:  # t = (index + 1) / 200
            index = (k + 1) // 50 - 1
            assert m == pytest.approx(float(schedule.sqrt_alpha_bar[index]), rel=1e-8)
            assert v == pytest.approx(float(schedule.sqrt_one_minus_alpha_bar[index]) ** 2, rel=1e-6, abs=1e-12)
    a, s = schedule.sqrt_alpha_bar, schedule.sqrt_one_minus_alpha_bar
    assert torch.all(a**2 + s**2 <= 1.0 + 1e-12)  # Var(x_t) <= 1 for unit-variance data


@pytest.mark.parametrize("name", ["ve", "subvp", "flow"])
def test_the_step_by_step_chain_reaches_the_closed_form_marginal(name):
    """q(x_t | x_(t-1)) of each process, chained from x0, gives q(x_t | x0) = N(a_t x0, s_t^2)."""
    schedule = make_schedule(name, 50, sigma_max=4.0) if name == "ve" else make_schedule(name, 50)
    x0 = torch.full((40_000, 1), 0.8, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    for t in (9, 30, 48):
        x = q_chain(schedule, x0, t, gen)
        a, s = float(schedule.sqrt_alpha_bar[t]), float(schedule.sqrt_one_minus_alpha_bar[t])
        assert float(x.mean()) == pytest.approx(0.8 * a, abs=4 * s / 200)
        assert float(x.var()) == pytest.approx(s**2, rel=0.03)


def test_denoising_score_matching_with_lambda_sigma_squared_is_the_eps_loss():
    """Song et al. 2021, eq. 7 with lambda = sigma^2: sigma^2 |s_theta - grad log q(x_t | x0)|^2 equals
    |eps_theta - eps|^2 for s_theta = -eps_theta / sigma, grad log q(x_t | x0) = -(x_t - x0) / sigma^2."""
    schedule = make_schedule("ve", 1000)
    gen = torch.Generator().manual_seed(1)
    x0, eps, eps_theta = (torch.randn(256, 2, generator=gen, dtype=torch.float64) for _ in range(3))
    t = torch.randint(0, 1000, (256,), generator=gen)
    xt = q_sample(schedule, x0, t, eps)
    sigma = schedule.sqrt_one_minus_alpha_bar[t][:, None]
    dsm = sigma**2 * (-eps_theta / sigma + (xt - x0) / sigma**2) ** 2
    assert torch.allclose(dsm, (eps_theta - eps) ** 2, rtol=1e-9, atol=1e-12)


def test_the_ve_prior_term_is_the_kl_to_n_0_sigma_max():
    schedule = make_schedule("ve", 100, sigma_max=10.0)
    x0 = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    # KL(N(x0, s^2) || N(0, S^2)) = sum log(S / s) + (s^2 + x0^2) / (2 S^2) - 1/2 with s = S = sigma_max
    assert float(prior_term(schedule, x0)) == pytest.approx((0.25 + 1.0) / 200, rel=1e-9)


def vp_twin(schedule):
    """The variance-preserving process with the same SNR as `schedule`."""
    ab = schedule.alpha_bar
    return _from_scales("twin", "vp", ab.sqrt(), (1 - ab).sqrt())


@pytest.mark.parametrize("name", ["ve", "subvp"])
def test_ddpm_on_ve_and_sub_vp_is_the_vp_chain_of_the_same_snr_rescaled(name):
    """Ancestral sampling on another process runs the VP chain of its SNR on x_vp = x / sqrt(a^2 + s^2)
    (for VE, SMLD's ancestral sampler): step by step, x * r_t equals the twin VP chain's state."""
    schedule = make_schedule(name, 100)
    twin = vp_twin(schedule)
    vp_model = exact_flow(twin, prediction="eps")

    def own_model(x, t):  # the same E[eps | x_t], read in the process's own coordinates
        return vp_model(x * vp_factor(schedule, int(t)), t)

    x_own = x_T(256) * schedule.prior_std
    x_twin = x_own * vp_factor(schedule, 99)
    ts = timesteps(100, 100, "leading", schedule)
    own = ddpm_steps(Estimator(own_model, schedule), x_own, ts, torch.Generator().manual_seed(3))
    vp = ddpm_steps(Estimator(vp_model, twin), x_twin, ts, torch.Generator().manual_seed(3))
    for a, b in zip(own, vp, strict=True):
        assert torch.allclose(a.x * vp_factor(schedule, a.t_prev), b.x, atol=1e-10)


def _moments_close(x, tolerance):
    assert torch.allclose(x.mean(0), MU, atol=tolerance)
    assert torch.allclose(x.var(0), S2, rtol=4 * tolerance)


@pytest.mark.parametrize("sampler, steps", [("pc", 200), ("em", 400), ("heun", 40), ("ddpm", 200), ("ddim", 100)])
def test_every_sampler_draws_the_gaussian_data_on_ve_with_the_exact_denoiser(sampler, steps):
    schedule = make_schedule("ve", 1000, sigma_max=20.0)
    x = x_T(4000, seed=7) * schedule.prior_std
    settings = SamplerSettings(sampler, steps, spacing="trailing")  # leading would start at t < T (DDIM's quirk)
    model = exact_flow(schedule, prediction="eps")
    final = last(sample_steps(settings, model, schedule, x, torch.Generator().manual_seed(8)))
    _moments_close(final.x, 0.04)


def test_predictor_corrector_counts_its_calls_and_without_a_corrector_is_euler_maruyama():
    schedule = make_schedule("ve", 200)
    model = counted(exact_flow(schedule, prediction="eps"))
    ts = timesteps(200, 20, "leading", schedule)
    final = last(predictor_corrector_steps(Estimator(model, schedule), x_T(64) * 3, ts, torch.Generator(), 0.16, 2))
    assert final.nfe == model.calls == 20 + 2 * 19 == SamplerSettings("pc", 20, corrector_steps=2).nfe(schedule)
    plain = Estimator(exact_flow(schedule, prediction="eps"), schedule)
    pc = last(predictor_corrector_steps(plain, x_T(64) * 3, ts, torch.Generator().manual_seed(1), 0.16, 0))
    em = last(euler_maruyama_steps(plain, x_T(64) * 3, ts, torch.Generator().manual_seed(1)))
    assert torch.equal(pc.x, em.x)


def test_langevin_corrector_moves_samples_to_the_noised_marginal():
    """Started far from q(x_t) (shifted, too narrow), Langevin steps with the exact score reach its mean
    and variance: N(MU, S2 + sigma^2) on VE."""
    schedule = make_schedule("ve", 100, sigma_max=3.0)
    t = 40
    sigma2 = float(schedule.sqrt_one_minus_alpha_bar[t]) ** 2
    gen = torch.Generator().manual_seed(2)
    x = MU + 1.0 + 0.1 * torch.randn(4000, 2, generator=gen, dtype=torch.float64)
    x = langevin_correct(Estimator(exact_flow(schedule, prediction="eps"), schedule), x, t, gen, 0.16, 300)
    assert torch.allclose(x.mean(0), MU, atol=0.03)
    assert torch.allclose(x.var(0), S2 + sigma2, rtol=0.08)


def test_the_ode_likelihood_on_ve_is_the_closed_form():
    """The N(0, sigma_max^2) prior misses q(x_T) = N(MU, S2 + sigma_max^2) by about |x_T . MU| / sigma_max^2
    ~ |MU| / sigma_max nats: with sigma_max = 5000 that is 2e-4, so the probability-flow ODE of the exact
    denoiser must return log N(x; MU, diag S2) to within its discretisation error (5e-4 in 1000 steps)."""
    schedule = make_schedule("ve", 1000, sigma_max=5000.0)
    x0 = gaussian_data(64, seed=4)
    result = ode_log_likelihood(Estimator(exact_flow(schedule, prediction="eps"), schedule), x0, 1000,
                                torch.Generator().manual_seed(4))  # fmt: skip
    exact = torch.distributions.Normal(MU, S2.sqrt()).log_prob(x0).sum(1)
    assert (result.log_p - exact).abs().max() < 2e-3


@pytest.mark.parametrize("kind, spacing, refused", [
    ("ve", "leading", True), ("ve", "quadratic", True), ("flow", "leading", True),
    ("ve", "trailing", False), ("ve", "logsnr", False), ("ve", "karras", False), ("flow", "trailing", False),
    ("linear", "leading", False), ("linear", "quadratic", False),
])  # fmt: skip
def test_a_spacing_that_starts_below_t_T_is_refused_where_x_T_would_be_wrong(kind, spacing, refused):
    """x_T is drawn from the prior, the marginal at t = T. VE's sigma at leading's first step
    (t = 0.9 T) is 2.7 against sigma_max 5, and rectified flow's x_t there still holds a tenth of
    x0: refused with what to choose. On the VP process q_t at 0.8 T already is N(0, I) to 4%."""
    schedule = make_schedule(kind, 1000, sigma_max=5.0 if kind == "ve" else None)
    prediction = "flow" if kind == "flow" else "eps"
    settings = SamplerSettings("euler" if kind == "flow" else "ddim", 10, spacing=spacing)
    model, start = exact_flow(schedule, prediction=prediction), x_T(64) * schedule.prior_std

    def run():
        return list(sample_steps(settings, model, schedule, start, torch.Generator().manual_seed(0), prediction))

    if refused:
        with pytest.raises(ValueError, match=f"the {spacing} spacing starts at t = .* choose trailing"):
            run()
    else:
        assert torch.isfinite(run()[-1].x).all()
    if kind == "ve" and spacing == "leading":  # at S = T every spacing is all T steps: DDPM-1000 stays valid
        assert timesteps(1000, 1000, "leading", schedule)[0] == 999
