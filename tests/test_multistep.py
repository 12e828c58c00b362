"""The multistep solvers (DPM-Solver++(3M), UniPC, iPNDM): convergence orders on Gaussian data with
its exact denoiser, and diffusers' schedulers as step-by-step oracles where their updates are ours."""

import math

import pytest
import torch

from explorer.core.schedules import make_schedule
from explorer.sampling.gaussian import Estimator
from explorer.sampling.multistep import adams_bashforth_weights, ipndm_steps, unipc_steps
from explorer.sampling.registry import SAMPLERS, SamplerSettings, sample_steps
from explorer.sampling.spacings import timesteps
from tests.oracles import MU, S2, exact_eps, x_T
from tests.test_solvers import exact_ode_at_index_0, state_at_index_0


def measured_order(name: str, spacing: str = "logsnr", steps=(16, 32, 64)) -> float:
    """log2 of the error ratio at index 0 (against the exact ODE solution) from steps[1] to steps[2]."""
    schedule = make_schedule("linear", 1000)
    xT = x_T()
    reference = exact_ode_at_index_0(schedule, xT)
    errors = [(state_at_index_0(SamplerSettings(name, S, spacing=spacing), schedule, xT) - reference).abs().max()
              for S in steps]  # fmt: skip
    assert errors[0] > errors[1] > errors[2], errors
    return math.log2(errors[1] / errors[2])


@pytest.mark.parametrize("name, spacing, low", [
    ("dpmpp3m", "logsnr", 3.0),  # measured 3.9-4.8 (diffusers' 3M, whose D2 term is half the Taylor term: 2.2-2.3)
    ("unipc", "logsnr", 2.7),  # UniP-2 raised to third order by UniC: measured 2.9-3.1
    ("unipc", "karras", 2.7),
    ("ipndm", "karras", 3.2),  # fourth order, still approaching it at 64 steps: measured 2.9, 3.5
])  # fmt: skip
def test_convergence_orders_of_the_multistep_solvers(name, spacing, low):
    assert measured_order(name, spacing) > low


def test_unipc_without_its_corrector_is_second_order():
    schedule = make_schedule("linear", 1000)
    xT = x_T()
    reference = exact_ode_at_index_0(schedule, xT)
    errors = []
    for S in (16, 32, 64):
        ts = timesteps(1000, S, "logsnr", schedule)
        steps = unipc_steps(Estimator(exact_eps(schedule), schedule), xT, ts, corrector=False)
        errors.append(next(s.x for s in steps if s.t_prev == 0) - reference)
    order = math.log2(errors[1].abs().max() / errors[2].abs().max())
    assert 1.7 < order < 2.4, order


def test_adams_bashforth_weights_integrate_polynomials_exactly():
    assert adams_bashforth_weights([0.0, -1.0, -2.0, -3.0], 0.0, 1.0) == pytest.approx(
        [55 / 24, -59 / 24, 37 / 24, -9 / 24]
    )
    nodes, start, end = [2.0, 2.7, 3.1], 2.0, 1.4  # uneven gaps, integrating backwards as sigma falls
    weights = adams_bashforth_weights(nodes, start, end)
    for p, integral in [(lambda u: 1.0, end - start), (lambda u: u, (end**2 - start**2) / 2),
                        (lambda u: u * u, (end**3 - start**3) / 3)]:  # fmt: skip
        assert sum(w * p(u) for w, u in zip(weights, nodes, strict=True)) == pytest.approx(integral)


@pytest.mark.parametrize("name", ["dpmpp3m", "unipc", "ipndm"])
def test_the_multistep_solvers_recover_the_data_distribution_at_20_steps(name):
    """With one model call a step (DDIM at 20 log-SNR steps misses the variance by 0.079, DPM-Solver++(2M)
    by 0.013); on this narrow Gaussian the higher orders pay off from about 20 steps, not at 5 or 10."""
    schedule = make_schedule("linear", 1000)
    settings = SamplerSettings(name, 20, spacing=SAMPLERS[name].spacing)
    steps = list(sample_steps(settings, exact_eps(schedule), schedule, x_T(20_000), torch.Generator()))
    x = steps[-1].x
    assert len(steps) == 20 and steps[-1].nfe == 20 and steps[-1].t_prev == -1
    assert (x.mean(0) - MU).abs().max() < 0.02 and (x.var(0) - S2).abs().max() < 0.025, (x.mean(0), x.var(0))


def test_ipndm_of_order_one_is_euler():
    schedule = make_schedule("cosine", 1000)
    ts = timesteps(1000, 12, "karras", schedule)
    ours = list(ipndm_steps(Estimator(exact_eps(schedule), schedule), x_T(), ts, order=1))
    euler = list(sample_steps(SamplerSettings("euler", 12, spacing="karras"), exact_eps(schedule), schedule, x_T(),
                              torch.Generator()))  # fmt: skip
    for a, b in zip(ours, euler, strict=True):
        torch.testing.assert_close(a.x, b.x, rtol=1e-12, atol=1e-12)


def test_ipndm_steps_to_the_data_by_euler_and_converges_on_the_shipped_spiral():
    """Its last step (sigma' = 0) returns x0_hat, as Heun's and DPM-Solver++'s do; with the step taken at
    full order the shipped spiral-mlp stalled at 0.0037 from the spiral from 50 steps on, where
    DPM-Solver++(3M) reaches 0.0006 (both on log-SNR steps)."""
    from explorer.evaluation.metrics import mean_spiral_distance
    from explorer.runs.common import draw_samples
    from explorer.runs.compare import clip_bound
    from explorer.store.registry import load_model

    schedule = make_schedule("linear", 1000)
    last = list(sample_steps(SamplerSettings("ipndm", 20, spacing="logsnr"), exact_eps(schedule), schedule, x_T(),
                             torch.Generator()))[-1]  # fmt: skip
    assert last.t_prev == -1 and torch.equal(last.x, last.x0_hat)
    loaded, schedule = load_model("spiral-mlp")
    distance = {}
    for name in ("ipndm", "dpmpp3m"):
        settings = SamplerSettings(name, 200, spacing="logsnr", clip_x0=clip_bound("spiral-mlp"))
        distance[name] = mean_spiral_distance(draw_samples(loaded, schedule, 2000, 0, settings)[0])
    assert distance["ipndm"] < 1.5 * distance["dpmpp3m"] < 0.0012, distance


def diffusers_run(oracle, ours, schedule) -> list[torch.Tensor]:
    """The oracle scheduler stepped through our timesteps from our x_T, on the same exact model."""
    model, x = exact_eps(schedule), x_T(64).to(ours[0].x.dtype)
    states = []
    for step in ours:
        x = oracle.step(model(x, step.t), step.t, x).prev_sample
        states.append(x)
    return states


# trailing only: the multistep schedulers' own "leading" adds no offset to T // S steps (940, 893, ...)
@pytest.mark.parametrize("spacing", ["trailing"])
def test_matches_diffusers_dpm_solver_multistep_at_second_order(spacing):
    """DPMSolverMultistepScheduler (dpmsolver++, order 2, midpoint, last step first order) is our 2M step
    for step; at order 3 it agrees for the two warm-up steps and then differs by half its D2 term."""
    from diffusers import DPMSolverMultistepScheduler

    T, S = 1000, 20
    schedule = make_schedule("linear", T)
    ts = timesteps(T, S, spacing)
    kwargs = dict(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                  algorithm_type="dpmsolver++", solver_type="midpoint", timestep_spacing=spacing,
                  final_sigmas_type="zero", lower_order_final=True)  # fmt: skip
    for order, name in ((2, "dpmpp2m"), (3, "dpmpp3m")):
        oracle = DPMSolverMultistepScheduler(solver_order=order, **kwargs)
        oracle.set_timesteps(S)
        assert oracle.timesteps.tolist() == ts
        oracle_dtype = torch.float64
        ours = list(sample_steps(SamplerSettings(name, S, spacing=spacing), exact_eps(schedule), schedule,
                                 x_T(64).to(oracle_dtype), torch.Generator()))  # fmt: skip
        theirs = diffusers_run(oracle, ours, schedule)
        gaps = [(a.x - b).abs().max().item() for a, b in zip(ours, theirs, strict=True)]
        if order == 2:
            assert max(gaps) < 1e-6, gaps
        else:
            assert max(gaps[:2]) < 1e-6 and max(gaps[2:-1]) > 1e-4, gaps


@pytest.mark.parametrize("spacing", ["trailing"])
def test_matches_diffusers_unipc_multistep(spacing):
    """UniPCMultistepScheduler (bh2, order 2, with its corrector, last step first order) step for step."""
    from diffusers import UniPCMultistepScheduler

    T, S = 1000, 20
    schedule = make_schedule("linear", T)
    oracle = UniPCMultistepScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                                     solver_order=2, solver_type="bh2", predict_x0=True, timestep_spacing=spacing,
                                     final_sigmas_type="zero", lower_order_final=True)  # fmt: skip
    oracle.set_timesteps(S)
    assert oracle.timesteps.tolist() == timesteps(T, S, spacing)
    ours = list(sample_steps(SamplerSettings("unipc", S, spacing=spacing), exact_eps(schedule), schedule,
                             x_T(64), torch.Generator()))  # fmt: skip
    theirs = diffusers_run(oracle, ours, schedule)
    gaps = [(a.x - b).abs().max().item() for a, b in zip(ours, theirs, strict=True)]
    assert max(gaps) < 1e-6, gaps


@pytest.mark.parametrize("name", ["dpmpp3m", "unipc", "ipndm"])
def test_the_multistep_solvers_integrate_a_rectified_flow_too(name):
    """x_t = (1 - t) x0 + t eps is a Gaussian path like any other: with a = 1 - t, s = t the same
    exponential-integrator and sigma = s / a forms apply, and beat Euler at 10 steps (errors 0.01-0.03
    against 0.12; iPNDM 0.049: its last step, over t = 0.1 -> 0, is an Euler step, 0.027 at full order;
    the first step starts at t = 1, zero SNR, and restarts their history)."""
    from tests.oracles import exact_flow

    flow = make_schedule("flow", 1000)
    xT = x_T(20_000)
    errors = {}
    for sampler in (name, "euler"):
        x = list(sample_steps(SamplerSettings(sampler, 10, spacing="trailing"), exact_flow(flow), flow, xT,
                              torch.Generator(), "flow"))[-1].x  # fmt: skip
        errors[sampler] = (x.var(0) - S2).abs().sum().item() + (x.mean(0) - MU).abs().sum().item()
    assert torch.isfinite(x).all() and errors[name] < errors["euler"] / (2 if name == "ipndm" else 3), errors


def test_edm_without_churn_is_heun_and_with_churn_samples_the_data():
    """Karras et al.'s Algorithm 2 with S_churn = 0 is their Algorithm 1 (Heun) step for step; with
    churn it is a stochastic sampler whose samples still have the data's mean and variance."""
    schedule = make_schedule("linear", 1000)
    model = exact_eps(schedule)

    def run(settings, n, seed):
        return list(sample_steps(settings, model, schedule, x_T(n), torch.Generator().manual_seed(seed)))

    heun = run(SamplerSettings("heun", 25, spacing="karras"), 512, 0)
    edm = run(SamplerSettings("edm", 25, spacing="karras", churn=0.0), 512, 0)
    for a, b in zip(heun, edm, strict=True):
        assert a.nfe == b.nfe
        torch.testing.assert_close(a.x, b.x, rtol=1e-12, atol=1e-12)
    churned = SamplerSettings("edm", 100, spacing="karras", churn=40.0)
    x = run(churned, 20_000, 1)[-1].x
    assert (x.mean(0) - MU).abs().max() < 0.02 and (x.var(0) - S2).abs().max() < 0.02, (x.mean(0), x.var(0))
    again, other = run(churned, 512, 1)[-1].x, run(churned, 512, 2)[-1].x
    assert torch.equal(again, run(churned, 512, 1)[-1].x) and not torch.equal(again, other), "seeded noise"
    assert run(churned, 8, 1)[-1].nfe == churned.nfe(schedule) == 199


def test_edm_raises_sigma_to_the_next_schedule_level_at_or_above_the_target():
    from explorer.sampling.gaussian import _raised_index, schedule_sigmas

    schedule = make_schedule("linear", 1000)
    sigmas = schedule.sqrt_one_minus_alpha_bar / schedule.sqrt_alpha_bar
    for t, factor in [(100, 1.05), (500, 1.2), (900, 1.4142)]:
        raised = _raised_index(schedule_sigmas(schedule), t, float(sigmas[t]) * factor)
        assert sigmas[raised] >= sigmas[t] * factor > sigmas[raised - 1] and raised > t
    assert _raised_index(schedule_sigmas(schedule), 999, 1e9) == 999, "capped at the top of the schedule"
