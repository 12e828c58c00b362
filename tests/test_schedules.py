"""Schedules against their closed forms and against diffusers' DDPMScheduler (test-only oracle)."""

import math

import pytest
import torch

from explorer.core.schedules import MAX_BETA, SCHEDULES, extract, make_schedule

DIFFUSERS_NAME = {
    "linear": "linear",
    "scaled_linear": "scaled_linear",
    "sigmoid": "sigmoid",
    "cosine": "squaredcos_cap_v2",
}
DIFFUSERS_RANGE = {  # (beta_start, beta_end) at T = 1000, rescaled by 1000 / T as ours are
    "linear": (1e-4, 0.02), "sigmoid": (1e-4, 0.02), "scaled_linear": (0.00085, 0.012), "cosine": (1e-4, 0.02),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("T", [50, 1000, 4000])
@pytest.mark.parametrize("zero_snr", [False, True])
def test_matches_diffusers(name, T, zero_snr):
    from diffusers import DDPMScheduler

    start, end = DIFFUSERS_RANGE[name]
    oracle = DDPMScheduler(
        num_train_timesteps=T, beta_start=start * 1000 / T, beta_end=end * 1000 / T,
        beta_schedule=DIFFUSERS_NAME[name], rescale_betas_zero_snr=zero_snr,
    )  # fmt: skip
    ours = make_schedule(name, T, zero_snr)
    # diffusers works in float32: its zero-SNR betas are ratios of float32 cumulative
    # products, which lose a few ulps near t = T; 1e-4 relative is float32 agreement here
    torch.testing.assert_close(ours.betas.float(), oracle.betas.float(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.alpha_bar.float(), oracle.alphas_cumprod.float(), rtol=1e-4, atol=1e-6)


def test_linear_closed_form():
    s = make_schedule("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4)
    assert s.betas[-1].item() == pytest.approx(0.02)
    assert s.betas[499].item() == pytest.approx(1e-4 + 499 / 999 * (0.02 - 1e-4))
    # rescaled for other T: the same total noise, beta_1 = 1e-4 * 1000 / T
    assert make_schedule("linear", 250).betas[0].item() == pytest.approx(4e-4)


def test_cosine_closed_form():
    """alpha_bar_t = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) pi/2) wherever no clip binds."""
    T, s = 1000, 0.008
    sched = make_schedule("cosine", T)
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for index in [0, 10, 300, 700, 990]:
        assert sched.alpha_bar[index].item() == pytest.approx(f(index + 1) / f(0), rel=1e-9)
    assert sched.betas.max().item() == pytest.approx(MAX_BETA)  # the clip binds at the last step only
    assert (sched.betas[:-1] < MAX_BETA).all()


def test_scaled_linear_is_linear_in_sqrt_beta():
    root = make_schedule("scaled_linear", 1000).betas.sqrt()
    steps = root[1:] - root[:-1]
    torch.testing.assert_close(steps, torch.full_like(steps, steps[0].item()))


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("T", [2, 10, 1000, 4000])
def test_derived_quantities(name, T):
    s = make_schedule(name, T)
    assert ((s.betas > 0) & (s.betas <= MAX_BETA)).all()
    torch.testing.assert_close(s.alpha_bar, torch.cumprod(1 - s.betas, 0))
    assert (s.alpha_bar[1:] < s.alpha_bar[:-1]).all(), "alpha_bar strictly decreases"
    assert (s.log_snr[1:] < s.log_snr[:-1]).all(), "log-SNR strictly decreases"
    torch.testing.assert_close(s.sqrt_alpha_bar**2 + s.sqrt_one_minus_alpha_bar**2, torch.ones(T, dtype=torch.float64))
    torch.testing.assert_close(s.snr, s.alpha_bar / (1 - s.alpha_bar))
    # beta_tilde_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t), eq. 7; zero at the first step
    assert s.beta_tilde[0].item() == 0.0
    assert ((s.beta_tilde[1:] > 0) & (s.beta_tilde[1:] <= s.betas[1:])).all()


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_alpha_bar_T_near_zero(name):
    assert make_schedule(name, 1000).alpha_bar[-1].item() < 5e-3


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_zero_terminal_snr(name):
    plain, rescaled = make_schedule(name, 1000), make_schedule(name, 1000, zero_terminal_snr=True)
    assert rescaled.alpha_bar[-1].item() == 0.0
    assert rescaled.log_snr[-1].item() == -math.inf
    assert rescaled.alpha_bar[0].item() == pytest.approx(plain.alpha_bar[0].item())
    # sqrt(alpha_bar) is shifted and scaled linearly (Lin et al. 2024, Algorithm 1)
    a, b = plain.sqrt_alpha_bar, rescaled.sqrt_alpha_bar
    expected = (a - a[-1]) * a[0] / (a[0] - a[-1])
    torch.testing.assert_close(b, expected)


@pytest.mark.parametrize("T", [0, 1, 4001, 10**7, float("nan"), 2.5, "many", None])
def test_bad_T_is_refused_with_a_message(T):
    with pytest.raises(ValueError, match="T must be"):
        make_schedule("linear", T)


def test_unknown_schedule_lists_choices():
    with pytest.raises(ValueError, match=r"unknown schedule 'quadratic'; choose from \['cosine'"):
        make_schedule("quadratic", 100)


def test_extract_broadcasts():
    table = torch.arange(10, dtype=torch.float64)
    images = torch.zeros(3, 1, 4, 4)
    out = extract(table, torch.tensor([1, 5, 9]), images)
    assert out.shape == (3, 1, 1, 1) and out.dtype == torch.float32
    assert out.flatten().tolist() == [1.0, 5.0, 9.0]
    assert extract(table, 4, torch.zeros(7, 2)).item() == 4.0
