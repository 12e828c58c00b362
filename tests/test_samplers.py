"""DDPM ancestral sampling with the exact denoiser of Gaussian data (no training involved)."""

import math

import pytest
import torch

from explorer.core.gaussian import v_from_eps_x0
from explorer.core.parametrization import predict_x0_eps
from explorer.core.schedules import make_schedule
from explorer.sampling.gaussian import Estimator, ddpm_steps, last
from explorer.sampling.spacings import timesteps
from tests.oracles import MU, S2, exact_eps


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ddpm_with_exact_eps_recovers_the_data_distribution(variance):
    schedule = make_schedule("linear", 1000)
    n = 40_000
    gen = torch.Generator().manual_seed(0)
    x_T = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    x = last(ddpm_steps(Estimator(exact_eps(schedule), schedule), x_T, list(range(999, -1, -1)), gen, variance)).x
    mean, var = x.mean(0), x.var(0)
    # 5 standard errors of the estimate, plus 0.01 for the sampler's discretisation
    assert ((mean - MU).abs() < 5 * (S2 / n).sqrt() + 0.01).all(), mean
    assert ((var - S2).abs() < 5 * S2 * math.sqrt(2 / n) + 0.01).all(), var
    assert abs(torch.corrcoef(x.T)[0, 1].item()) < 5 / math.sqrt(n)


def test_parameterisations_agree():
    """An eps-, x0- or v-model that encode the same denoiser give the same trajectory."""
    schedule = make_schedule("cosine", 50)
    eps_model = exact_eps(schedule)

    def as_x0(x, t):
        x0, _ = predict_x0_eps(schedule, eps_model(x, t), x, int(t), "eps")
        return x0

    def as_v(x, t):
        x0, eps = predict_x0_eps(schedule, eps_model(x, t), x, int(t), "eps")
        return v_from_eps_x0(schedule, int(t), eps, x0)

    runs = []
    for model, prediction in [(eps_model, "eps"), (as_x0, "x0"), (as_v, "v")]:
        gen = torch.Generator().manual_seed(3)
        runs.append(
            last(
                ddpm_steps(
                    Estimator(model, schedule, prediction),
                    torch.randn(64, 2, generator=gen, dtype=torch.float64),
                    list(range(49, -1, -1)),
                    gen,
                )
            ).x  # fmt: skip
        )
    torch.testing.assert_close(runs[1], runs[0])
    torch.testing.assert_close(runs[2], runs[0])


def test_trajectory_steps_and_seed():
    schedule = make_schedule("linear", 20)
    model = exact_eps(schedule)

    def run(seed):
        gen = torch.Generator().manual_seed(seed)
        return list(ddpm_steps(Estimator(model, schedule), torch.randn(8, 2, generator=gen, dtype=torch.float64),
                               timesteps(20, 20, "leading"), gen))  # fmt: skip

    steps = run(1)
    assert [s.t for s in steps] == list(range(19, -1, -1)) and steps[-1].t_prev == -1
    assert steps[-1].nfe == 20
    assert torch.equal(steps[-1].x, run(1)[-1].x) and not torch.equal(steps[-1].x, run(2)[-1].x)
    with pytest.raises(ValueError, match="unknown DDPM variance"):
        next(ddpm_steps(Estimator(model, schedule), torch.zeros(1, 2), [19, 0], torch.Generator(), variance="large"))
