"""DDIM: its timestep spacings, its equivalence with DDPM, and diffusers' DDIMScheduler as oracle."""

import math

import pytest
import torch

from explorer.core.schedules import make_schedule
from explorer.sampling.gaussian import Estimator, ddim_sigma, ddim_steps, ddpm_steps, last
from explorer.sampling.spacings import SPACINGS, timesteps
from tests.oracles import MU, S2, exact_eps


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("S", [1, 10, 50, 1000])
def test_spacings_are_distinct_descending_in_range(spacing, S):
    seq = timesteps(1000, S, spacing, make_schedule("linear", 1000))
    assert len(seq) == S and seq == sorted(seq, reverse=True) and seq[-1] >= 0 and seq[0] <= 999


def test_spacing_values():
    assert timesteps(1000, 4, "leading") == [750, 500, 250, 0]
    assert timesteps(1000, 4, "trailing") == [999, 749, 499, 249]
    assert timesteps(1000, 4, "linspace") == [999, 666, 333, 0]
    assert timesteps(1000, 1000, "leading") == list(range(999, -1, -1))
    assert timesteps(1000, 5, "quadratic") == [800, 450, 200, 50, 0]  # floor((k sqrt(800) / 4)^2)
    assert timesteps(1000, 50, "quadratic")[-3:] == [2, 1, 0]  # floor gives 1, 0, 0 here: bumped apart
    with pytest.raises(ValueError, match="unknown spacing"):
        timesteps(1000, 4, "cubic")
    with pytest.raises(ValueError, match="steps must be between 1 and T"):
        timesteps(100, 101, "leading")


def test_eta_one_full_steps_is_ddpm():
    """DDIM with eta = 1 and S = T is DDPM with sigma^2 = beta_tilde, draw for draw."""
    schedule = make_schedule("cosine", 60)
    model = exact_eps(schedule)
    runs = []
    every = timesteps(60, 60, "leading")
    for sampler in (lambda x, g: ddpm_steps(Estimator(model, schedule), x, every, g, variance="beta_tilde"),
                    lambda x, g: ddim_steps(Estimator(model, schedule), x, every, g, eta=1.0)):  # fmt: skip
        gen = torch.Generator().manual_seed(11)
        runs.append(last(sampler(torch.randn(256, 2, generator=gen, dtype=torch.float64), gen)).x)
    torch.testing.assert_close(runs[1], runs[0], rtol=1e-9, atol=1e-9)
    s = schedule
    assert ddim_sigma(s, 30, 29, 1.0) ** 2 == pytest.approx(float(s.beta_tilde[30]), rel=1e-9)


# linspace is left out: diffusers' step() assumes a uniform stride (prev = t - T // S = 949 after 999), while its
# own linspace timesteps go 999, 946, ...; our step goes to the next visited timestep, as the DDIM paper's tau does
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_matches_diffusers_ddim_scheduler(spacing, eta):
    from diffusers import DDIMScheduler

    T, S = 1000, 20
    schedule = make_schedule("linear", T)
    oracle = DDIMScheduler(num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                           clip_sample=False, set_alpha_to_one=True, timestep_spacing=spacing)  # fmt: skip
    oracle.set_timesteps(S)
    assert oracle.timesteps.tolist() == timesteps(T, S, spacing)
    model = exact_eps(schedule)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    twin = torch.Generator().manual_seed(1)  # the noise stream, replayed for the oracle
    ours = list(ddim_steps(Estimator(model, schedule), x.clone(), timesteps(schedule.T, S, spacing, schedule),
                           torch.Generator().manual_seed(1), eta=eta))  # fmt: skip
    x_oracle = x.float()
    for step in ours:
        noise = torch.randn(x.shape, generator=twin, dtype=torch.float64) if eta > 0 and step.t_prev >= 0 else None
        out = model(x_oracle.double(), step.t).float()
        x_oracle = oracle.step(out, step.t, x_oracle, eta=eta,
                               variance_noise=None if noise is None else noise.float()).prev_sample  # fmt: skip
        torch.testing.assert_close(step.x.float(), x_oracle, rtol=1e-4, atol=1e-4)


def test_deterministic_ddim_recovers_gaussian_data():
    schedule = make_schedule("linear", 1000)
    n = 40_000
    gen = torch.Generator().manual_seed(0)
    x = last(ddim_steps(Estimator(exact_eps(schedule), schedule), torch.randn(n, 2, generator=gen, dtype=torch.float64),
                        timesteps(schedule.T, 50, "leading"), gen)).x  # fmt: skip
    assert ((x.mean(0) - MU).abs() < 5 * (S2 / n).sqrt() + 0.01).all()
    assert ((x.var(0) - S2).abs() < 5 * S2 * math.sqrt(2 / n) + 0.02).all()


def test_bad_eta():
    schedule = make_schedule("linear", 10)
    for eta in [-0.1, 1.5, float("nan")]:
        with pytest.raises(ValueError, match="eta must be between 0 and 1"):
            next(ddim_steps(Estimator(exact_eps(schedule), schedule), torch.zeros(1, 2), [9, 0], torch.Generator(),
                            eta=eta))  # fmt: skip
