"""D3PM's transition matrices, marginals, posterior and loss, against independent derivations."""

import math

import pytest
import torch

from explorer.core.discrete.loss import hybrid_loss, one_hot
from explorer.core.discrete.process import TRANSITIONS, make_process, q_posterior, q_probs, q_sample, stationary


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


def test_corruption_view_text_and_digits():
    from explorer.data.text import DEFAULT_TEXT, MASK_CHAR, decode_text
    from explorer.runs.corruption import CorruptionSettings, corruption

    c = corruption(CorruptionSettings(dataset="text", transition="absorbing", T=100))
    assert decode_text(c.at(0)) == DEFAULT_TEXT
    masked = [decode_text(c.at(t)).count(MASK_CHAR) for t in (10, 50, 90, 100)]
    assert masked == sorted(masked) and masked[-1] == len(DEFAULT_TEXT)  # coupled: masks only accumulate
    assert abs(masked[1] / len(DEFAULT_TEXT) - 0.5) < 0.2
    d = corruption(CorruptionSettings(dataset="digits", transition="uniform", T=50, n=4))
    assert d.x0.shape == (4, 1, 8, 8) and d.process.K == 17
    assert float(d.distance[0]) > 0.3 and float(d.distance[-1]) < 1e-9  # the marginal reaches uniform at T
    torch.testing.assert_close(d.marginals.sum(-1), torch.ones(50, dtype=torch.float64))


def test_bad_corruption_settings():
    from explorer.runs.corruption import CorruptionSettings, corruption

    for settings, message in [
        (CorruptionSettings(dataset="text", text="Ünïcode"), "outside the vocabulary"),
        (CorruptionSettings(dataset="text", text="   "), "type a sentence"),
        (CorruptionSettings(dataset="text", text="a" * 500), "the limit is 200"),
        (CorruptionSettings(dataset="image"), "upload an image first"),
        (CorruptionSettings(dataset="digits", n=1000), "number of images must be between 1 and 64"),
        (CorruptionSettings(T=1), "T must be between 2"),
    ]:
        with pytest.raises(ValueError, match=message):
            corruption(settings)


def test_corrupt_command_writes_the_gif(tmp_path, capsys):
    import imageio.v3 as iio
    import numpy as np

    from explorer.cli.main import main

    out = tmp_path / "d3pm.gif"
    assert main(["corrupt", "--dataset", "digits", "--transition", "absorbing", "--T", "100", "--frames", "6",
                 "--size", "128", "--out", str(out)]) == 0  # fmt: skip
    frames = iio.imread(out, index=None)
    assert frames.shape == (6, 128, 128, 3)
    red = (frames[..., 0] > 180) & (frames[..., 1] < 90)
    assert red[0].sum() == 0 and red[-1].sum() > 1000  # no mask at t = 0, all masked at T
    image = tmp_path / "gradient.png"
    iio.imwrite(image, np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (40, 1)))
    assert main(["corrupt", "--dataset", "image", "--image", str(image), "--K", "2", "--transition", "uniform",
                 "--frames", "3", "--out", str(out)]) == 0  # fmt: skip
    assert main(["corrupt", "--dataset", "text", "--text", "héllo", "--out", str(out)]) == 1
    assert "outside the vocabulary" in capsys.readouterr().err
