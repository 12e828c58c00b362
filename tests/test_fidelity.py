"""The Fréchet distance, its jackknife interval and k-NN precision / recall, each against a closed form
or a constructed case; the digits report and the `evaluate` command."""

import json

import pytest
import scipy.linalg
import torch

from explorer.cli.main import main
from explorer.evaluation.fidelity import GaussianStats, frechet_distance, gaussian_stats, jackknife_fd, precision_recall


def random_cov(d, gen):
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_fd_of_diagonal_gaussians_is_the_closed_form():
    """Commuting covariances: FD = |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2."""
    m1, m2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([4.0, 1.0, 1.0])
    fd = frechet_distance(GaussianStats(m1.double(), torch.diag(s1).double()),
                          GaussianStats(m2.double(), torch.diag(s2).double()))  # fmt: skip
    assert fd == pytest.approx(5.0 + (1 + 1 + 0.25), rel=1e-12)


def test_fd_of_general_gaussians_matches_scipys_matrix_square_root():
    gen = torch.Generator().manual_seed(0)
    a, b = random_cov(6, gen), random_cov(6, gen)
    mu = torch.randn(6, generator=gen, dtype=torch.float64)
    root = scipy.linalg.sqrtm(a.numpy() @ b.numpy()).real
    expected = float(mu.pow(2).sum() + torch.trace(a) + torch.trace(b) - 2 * root.trace())
    assert frechet_distance(GaussianStats(mu, a), GaussianStats(torch.zeros(6, dtype=torch.float64), b)) == \
        pytest.approx(expected, rel=1e-9)  # fmt: skip


def test_fd_between_two_samples_of_one_gaussian_goes_to_zero_as_n_grows():
    gen = torch.Generator().manual_seed(1)
    cov = random_cov(8, gen)
    chol = torch.linalg.cholesky(cov)
    draw = lambda n: torch.randn(n, 8, generator=gen, dtype=torch.float64) @ chol.T  # noqa: E731
    fds = [frechet_distance(gaussian_stats(draw(n)), gaussian_stats(draw(n))) for n in (100, 1000, 10_000)]
    assert fds[0] > fds[1] > fds[2] and fds[2] < 0.01 * float(torch.trace(cov))


def test_the_jackknife_interval_covers_the_spread_of_fd_over_fresh_draws():
    """The jackknife standard error of FD (n = 300, d = 8, one mean shifted) against the standard deviation
    of FD over 40 independent draws of the same size: within a factor of 1.6."""
    gen = torch.Generator().manual_seed(2)
    reference = GaussianStats(torch.zeros(8, dtype=torch.float64), torch.eye(8, dtype=torch.float64))
    shift = torch.tensor([0.5] + [0.0] * 7, dtype=torch.float64)
    draws = [torch.randn(300, 8, generator=gen, dtype=torch.float64) + shift for _ in range(40)]
    spread = torch.tensor([frechet_distance(gaussian_stats(d), reference) for d in draws]).std()
    interval = jackknife_fd(draws[0], reference)
    se = (interval.high - interval.value) / 1.96
    assert interval.low < interval.value < interval.high
    assert spread / 1.6 < se < spread * 1.6


def test_precision_and_recall_of_a_sample_that_covers_half_the_modes():
    """Four separated modes: a sample from two of them is all precise (1) and recalls half (0.5); a sample
    from all four scores about 1 on both."""
    gen = torch.Generator().manual_seed(3)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]], dtype=torch.float64)

    def modes(which, n):
        jitter = 0.3 * torch.randn(n, 2, generator=gen, dtype=torch.float64)
        return centres[torch.tensor(which).repeat(n // len(which))] + jitter

    real = modes([0, 1, 2, 3], 800)
    precision, recall = precision_recall(real, modes([0, 1], 800))
    assert precision > 0.97 and recall == pytest.approx(0.5, abs=0.03)
    precision, recall = precision_recall(real, modes([0, 1, 2, 3], 800))
    assert precision > 0.95 and recall > 0.95


def test_the_held_out_digits_score_their_own_floor_and_too_few_samples_cannot_rank():
    from explorer.evaluation.digits import split
    from explorer.evaluation.sample_report import FD_N, digits_quality

    _, _, held_out, _ = split()
    quality = digits_quality(held_out)
    assert quality.n == FD_N == 297 and quality.fd == quality.fd_floor
    assert (quality.precision, quality.recall) == (quality.precision_floor, quality.recall_floor)
    noise = torch.rand(FD_N, 1, 8, 8, generator=torch.Generator().manual_seed(4)) * 2 - 1
    noisy = digits_quality(noise)
    assert noisy.fd.value > 5 * quality.fd_floor.high and noisy.precision < quality.precision_floor
    with pytest.raises(ValueError, match="at n = 297 or more"):
        digits_quality(held_out[:100])


def test_evaluate_writes_fd_precision_recall_and_the_memorised_share(tmp_path, capsys):
    out = tmp_path / "digits.json"
    assert main(["evaluate", "--model", "digits-unet", "--n", "300", "--sampler", "ddim", "--steps", "5",
                 "--json", str(out)]) == 0  # fmt: skip
    record = json.loads(out.read_text())
    assert record["kind"] == "images" and record["nfe"] == 5 and record["n"] == 300
    metrics = record["metrics"]
    assert {"fd", "fd_floor", "precision", "recall", "memorised_share"} <= set(metrics)
    assert metrics["fd_interval"][0] <= metrics["fd"] <= metrics["fd_interval"][1] and 0 <= metrics["recall"] <= 1
    assert "FD " in capsys.readouterr().out
    assert main(["evaluate", "--model", "spiral-mlp", "--n", "500", "--sampler", "ddim", "--steps", "20"]) == 0
    assert "precision" in capsys.readouterr().out
    assert main(["evaluate", "--model", "digits-unet", "--n", "50", "--steps", "5"]) != 0
    assert "297 or more" in capsys.readouterr().err
