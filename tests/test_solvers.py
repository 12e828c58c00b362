"""The probability-flow ODE and reverse-SDE solvers, DPM-Solver++(2M) and the respaced DDPM,
checked with the closed-form denoiser of Gaussian data (no training involved)."""

import math

import pytest
import torch

from explorer.core.gaussian import q_posterior
from explorer.core.parametrization import predict_x0_eps
from explorer.core.schedules import make_schedule
from explorer.sampling.gaussian import Estimator, ddim_steps, ddpm_steps, last
from explorer.sampling.registry import SAMPLERS, SamplerSettings, sample_steps
from explorer.sampling.spacings import timesteps
from tests.oracles import MU, S2, counted, exact_eps, exact_v, x_T


def exact_ode_at_index_0(schedule, xT):
    """The probability-flow ODE solved exactly from index T-1 to index 0. In x~ = x / a the data
    N(MU, S2) blurred to sigma is N(MU, S2 + sigma^2) and the ODE flow is the affine map
    x~(sigma) = MU + (x~(sigma_T) - MU) sqrt((S2 + sigma^2) / (S2 + sigma_T^2))."""
    a_T, a_0 = (math.sqrt(float(schedule.alpha_bar[i])) for i in (-1, 0))
    sigma_T, sigma_0 = (math.sqrt(1 / float(schedule.alpha_bar[i]) - 1) for i in (-1, 0))
    return a_0 * (MU + (xT / a_T - MU) * torch.sqrt((S2 + sigma_0**2) / (S2 + sigma_T**2)))


def state_at_index_0(settings, schedule, xT):
    for step in sample_steps(settings, exact_eps(schedule), schedule, xT, torch.Generator(), "eps"):
        if step.t_prev == 0:
            return step.x
    raise AssertionError("the spacing does not visit index 0")


@pytest.mark.parametrize("spacing", ["leading", "trailing", "karras", "logsnr"])
def test_euler_on_the_flow_ode_is_ddim_eta_zero(spacing):
    """In sigma coordinates an Euler step is x0_hat + sigma' eps_hat: DDIM's eq. 12 with sigma = 0."""
    schedule = make_schedule("linear", 1000)
    settings = SamplerSettings("euler", 20, spacing=spacing)
    euler = list(sample_steps(settings, exact_eps(schedule), schedule, x_T(), torch.Generator()))
    ddim = list(ddim_steps(Estimator(exact_eps(schedule), schedule), x_T(), timesteps(1000, 20, spacing, schedule),
                           torch.Generator()))  # fmt: skip
    assert [s.t for s in euler] == [s.t for s in ddim]
    for a, b in zip(euler, ddim, strict=True):
        torch.testing.assert_close(a.x, b.x, rtol=1e-12, atol=1e-12)


def test_dpm_solver_first_step_is_ddim_and_later_steps_are_not():
    schedule = make_schedule("linear", 1000)
    dpm = list(sample_steps(SamplerSettings("dpmpp2m", 10, spacing="logsnr"), exact_eps(schedule), schedule, x_T(),
                            torch.Generator()))  # fmt: skip
    ddim = list(ddim_steps(Estimator(exact_eps(schedule), schedule), x_T(), timesteps(1000, 10, "logsnr", schedule),
                           torch.Generator()))  # fmt: skip
    torch.testing.assert_close(dpm[0].x, ddim[0].x, rtol=1e-12, atol=1e-12)
    assert max((a.x - b.x).abs().max() for a, b in zip(dpm[1:], ddim[1:], strict=True)) > 1e-2


def test_respaced_ddpm_with_beta_tilde_is_ddim_eta_one():
    """Over a jump t -> t' the respaced chain's posterior variance is DDIM's sigma(eta = 1)^2, and its mean
    the same combination of x0_hat and x_t: the two agree draw for draw."""
    schedule = make_schedule("cosine", 1000)
    runs = []
    estimate, ts = Estimator(exact_eps(schedule), schedule), timesteps(1000, 25, "trailing")
    for sampler in (lambda x, g: ddpm_steps(estimate, x, ts, g),
                    lambda x, g: ddim_steps(estimate, x, ts, g, eta=1.0)):  # fmt: skip
        runs.append(last(sampler(x_T(), torch.Generator().manual_seed(3))).x)
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-10, atol=1e-10)


def test_ddpm_at_full_steps_is_algorithm_2():
    """With S = T the respaced chain is Ho et al.'s Algorithm 2 with the schedule's own posterior tables."""
    schedule = make_schedule("linear", 50)
    model = exact_eps(schedule)
    ours = last(
        ddpm_steps(Estimator(model, schedule), x_T(), list(range(49, -1, -1)), torch.Generator().manual_seed(1))
    ).x
    x, gen = x_T(), torch.Generator().manual_seed(1)
    for t in range(49, -1, -1):
        x0_hat, _ = predict_x0_eps(schedule, model(x, t), x, t, "eps")
        mean, _ = q_posterior(schedule, x0_hat, x, t)
        x = mean + schedule.beta_tilde[t].sqrt() * torch.randn(x.shape, generator=gen, dtype=x.dtype) if t else mean
    torch.testing.assert_close(ours, x, rtol=1e-10, atol=1e-10)


def test_convergence_orders():
    """Error at index 0 against the exact ODE solution, on log-SNR grids of 16, 32, 64 steps:
    Euler is first order, Heun and DPM-Solver++(2M) second order."""
    schedule = make_schedule("linear", 1000)
    xT = x_T()
    reference = exact_ode_at_index_0(schedule, xT)
    orders = {}
    for name in ("euler", "heun", "dpmpp2m"):
        errors = [(state_at_index_0(SamplerSettings(name, S, spacing="logsnr"), schedule, xT) - reference).abs().max()
                  for S in (16, 32, 64)]  # fmt: skip
        assert errors[0] > errors[1] > errors[2]
        orders[name] = math.log2(errors[1] / errors[2])
    assert 0.8 < orders["euler"] < 1.2, orders
    assert orders["heun"] > 1.7 and orders["dpmpp2m"] > 1.7, orders


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_recovers_the_data_distribution(name):
    schedule = make_schedule("linear", 1000)
    n = 20_000
    settings = SamplerSettings(name, 200, spacing="karras" if name != "ddpm" else "trailing", eta=0.5)
    x = last(sample_steps(settings, exact_eps(schedule), schedule, x_T(n), torch.Generator().manual_seed(5))).x
    assert ((x.mean(0) - MU).abs() < 5 * (S2 / n).sqrt() + 0.01).all(), x.mean(0)
    assert ((x.var(0) - S2).abs() < 5 * S2 * math.sqrt(2 / n) + 0.01).all(), x.var(0)


def test_euler_maruyama_variance_error_shrinks_with_steps():
    """The reverse SDE is a weak first-order scheme: the variance of its samples approaches S2 as S grows."""
    schedule = make_schedule("linear", 1000)
    errors = []
    for S in (5, 20, 200, 1000):
        settings = SamplerSettings("em", S, spacing="karras")
        x = last(sample_steps(settings, exact_eps(schedule), schedule, x_T(40_000), torch.Generator().manual_seed(2))).x
        errors.append((x.var(0) - S2).abs().sum().item())
    assert errors[0] > errors[1] > errors[2] > errors[3], errors
    assert errors[3] < 0.01


@pytest.mark.parametrize("name", SAMPLERS)
def test_nfe_is_counted_exactly(name):
    schedule = make_schedule("linear", 100)
    settings = SamplerSettings(name, 12, spacing="karras")
    model = counted(exact_eps(schedule))
    steps = list(sample_steps(settings, model, schedule, x_T(8), torch.Generator()))
    assert steps[-1].nfe == model.calls == settings.nfe(schedule)
    assert len(steps) == 12 and steps[-1].t_prev == -1
    assert settings.nfe(schedule) == (23 if name in ("heun", "edm", "pc") else 12)  # pc: S + M (S - 1), M = 1


def test_heun_stays_euler_on_a_step_from_zero_snr_and_nfe_says_so():
    """With zero terminal SNR and trailing spacing the first step starts where alpha_bar = 0; Heun takes
    no second call there, so S steps cost 2 S - 2 calls, as nfe() predicts and Step.nfe counts."""
    schedule = make_schedule("linear", 100, zero_terminal_snr=True)
    settings = SamplerSettings("heun", 12, spacing="trailing")
    model = counted(exact_v(schedule))
    steps = list(sample_steps(settings, model, schedule, x_T(8), torch.Generator(), prediction="v"))
    assert steps[-1].nfe == model.calls == settings.nfe(schedule) == 22


@pytest.mark.parametrize("name", SAMPLERS)
def test_zero_terminal_snr_with_a_v_model_gives_finite_correct_samples(name):
    schedule = make_schedule("linear", 1000, zero_terminal_snr=True)
    assert float(schedule.alpha_bar[-1]) == 0.0
    n = 20_000
    settings = SamplerSettings(name, 250, spacing="trailing", eta=0.5)
    x = last(sample_steps(settings, exact_v(schedule), schedule, x_T(n), torch.Generator().manual_seed(4), "v")).x
    assert torch.isfinite(x).all()
    assert ((x.mean(0) - MU).abs() < 5 * (S2 / n).sqrt() + 0.02).all(), x.mean(0)
    assert ((x.var(0) - S2).abs() < 5 * S2 * math.sqrt(2 / n) + 0.02).all(), x.var(0)


@pytest.mark.parametrize("name", SAMPLERS)
def test_zero_terminal_snr_with_an_eps_model_is_refused(name):
    schedule = make_schedule("cosine", 100, zero_terminal_snr=True)
    with pytest.raises(ValueError, match="zero terminal SNR"):
        last(sample_steps(SamplerSettings(name, 10, spacing="trailing"), exact_eps(schedule), schedule, x_T(4),
                          torch.Generator()))  # fmt: skip


def test_schedule_aware_spacings():
    schedule = make_schedule("linear", 1000)
    for spacing in ("karras", "logsnr"):
        seq = timesteps(1000, 15, spacing, schedule)
        assert seq[0] == 999 and seq[-1] == 0 and len(set(seq)) == 15
        with pytest.raises(ValueError, match="needs the model's schedule"):
            timesteps(1000, 15, spacing)
    lam = schedule.log_snr[timesteps(1000, 15, "logsnr", schedule)]
    gaps = (lam[1:] - lam[:-1]).numpy()
    assert gaps.std() < 0.1 * gaps.mean()  # uniform in log-SNR up to rounding to integer steps
    assert timesteps(1000, 1000, "karras", schedule) == list(range(999, -1, -1))


@pytest.mark.parametrize("name", ["euler", "heun"])
def test_matches_diffusers_euler_and_heun_discrete_schedulers(name):
    """EulerDiscreteScheduler and HeunDiscreteScheduler (Karras et al.'s Algorithm 1 on the VP model's sigmas,
    last step to sigma = 0 first order) on our Karras timesteps, step for step. They carry x~ = x / a and feed
    the network x~ / sqrt(sigma^2 + 1) = x; Heun's second call is at the next timestep, as ours is."""
    from diffusers import EulerDiscreteScheduler, HeunDiscreteScheduler

    T, S = 1000, 12
    schedule = make_schedule("linear", T)
    ts = timesteps(T, S, "karras", schedule)
    scheduler = EulerDiscreteScheduler if name == "euler" else HeunDiscreteScheduler
    oracle = scheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear")
    oracle.set_timesteps(timesteps=ts)
    model = exact_eps(schedule)
    ours = list(sample_steps(SamplerSettings(name, S, spacing="karras"), model, schedule, x_T(64), torch.Generator()))
    sample, theirs = (x_T(64) / math.sqrt(float(schedule.alpha_bar[ts[0]]))).float(), []
    for t in oracle.timesteps:
        x_in = oracle.scale_model_input(sample, t)
        sample = oracle.step(model(x_in.double(), int(t)).float(), t, sample).prev_sample
        if name == "euler" or oracle.state_in_first_order:
            theirs.append(sample)  # a whole step taken (Heun: after its correction)
    if name == "heun":
        theirs.append(sample)  # its last step, to sigma = 0, is an Euler step
    assert len(theirs) == S and ours[-1].nfe == len(oracle.timesteps)
    for step, x_tilde in zip(ours, theirs, strict=True):
        a_prev = math.sqrt(float(schedule.alpha_bar[step.t_prev])) if step.t_prev >= 0 else 1.0
        torch.testing.assert_close(step.x.float() / a_prev, x_tilde, rtol=1e-4, atol=1e-4)
