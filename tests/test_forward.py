"""The forward explorer: both routes, the chain's checkpoints, histograms, strips and GIFs."""

import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from explorer.core.gaussian import q_chain
from explorer.limits import MAX_STRIP_FRAMES
from explorer.runs.forward import (
    CHAIN_SEED_OFFSET,
    MODES,
    ForwardProcess,
    ForwardSettings,
    forward_process,
    parse_steps,
)
from explorer.viz.animations import export_forward_gif
from explorer.viz.panels import forward_frame, forward_strip


def test_step_zero_is_the_data_and_shortcut_is_closed_form():
    p = ForwardProcess(ForwardSettings(n_points=500, T=200))
    assert torch.equal(p.x_at(0), p.x0)
    ab = p.schedule.alpha_bar[49].item()
    expected = math.sqrt(ab) * p.x0 + math.sqrt(1 - ab) * p.eps
    torch.testing.assert_close(p.x_at(50), expected)


def test_chain_checkpoints_reproduce_a_straight_run():
    settings = ForwardSettings(n_points=300, T=1000, mode="chain", seed=5)
    p = ForwardProcess(settings)
    for step in [1, 4, 5, 6, 137, 999, 1000]:
        gen = torch.Generator().manual_seed(settings.seed + CHAIN_SEED_OFFSET)
        torch.testing.assert_close(p.x_at(step), q_chain(p.schedule, p.x0, step - 1, gen), rtol=0, atol=0)


@pytest.mark.parametrize("mode", MODES)
def test_both_routes_end_in_standard_normal(mode):
    p = ForwardProcess(ForwardSettings(n_points=10000, mode=mode))
    x = p.x_at(p.T).double()
    n = x.shape[0]
    assert x.mean(0).abs().max().item() < 5 / math.sqrt(n)
    assert (x.var(0) - 1).abs().max().item() < 5 * math.sqrt(2 / n)


def test_histogram_is_a_density_with_the_exact_marginal():
    p = ForwardProcess(ForwardSettings(n_points=5000))
    h = p.histogram(400)
    width = h.edges[1] - h.edges[0]
    assert (h.density * width).sum() == pytest.approx(1.0, abs=0.01)
    assert np.trapezoid(h.exact, h.grid) == pytest.approx(1.0, abs=1e-3)
    assert p.histogram(0).exact is None  # the data itself has no density


def test_image_datasets(tmp_path):
    from tests.images import write_png

    digits = ForwardProcess(ForwardSettings(dataset="digits", n_images=9))
    assert digits.kind == "image" and digits.x_at(10).shape == (9, 1, 8, 8)
    upload = ForwardProcess(
        ForwardSettings(dataset="upload", image_path=str(write_png(tmp_path / "a.png")), image_size=24)
    )
    assert upload.x_at(500).shape == (1, 3, 24, 24)
    assert forward_frame(upload, 500, 160).shape == (160, 160, 3)


def test_strip_and_parse_steps():
    p = forward_process(ForwardSettings(n_points=200, T=100))
    assert parse_steps("", 100) == [0, 20, 40, 60, 80, 100]
    assert parse_steps("0, 50;100", 100) == [0, 50, 100]
    strip = forward_strip(p, [0, 50, 100], 120)
    assert strip.shape == (120, 3 * 120 + 2 * 6, 3)
    with pytest.raises(ValueError, match="between 0 and 100"):
        parse_steps("0, 101", 100)
    with pytest.raises(ValueError, match="whole number"):
        parse_steps("ten", 100)
    with pytest.raises(ValueError, match="strip holds"):
        forward_strip(p, list(range(MAX_STRIP_FRAMES + 1)), 64)


@pytest.mark.parametrize(
    "change, message",
    [(dict(T=0), "T must be"), (dict(T=10**7), "T must be"), (dict(T=float("nan")), "T must be"),
     (dict(dataset="mnist"), "unknown dataset"), (dict(schedule="wavy"), "unknown schedule"),
     (dict(mode="teleport"), "unknown mode"), (dict(dataset="upload"), "upload"),
     (dict(seed=-1), "seed"), (dict(n_points=0), "number of points")],
)  # fmt: skip
def test_bad_settings_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        ForwardProcess(ForwardSettings(**change))


def test_bad_step_is_refused():
    p = forward_process(ForwardSettings(n_points=100, T=50))
    for bad in [-1, 51, float("nan"), 2.5]:
        with pytest.raises(ValueError, match="t must be"):
            p.x_at(bad)


def test_gif_has_requested_frames_and_size(tmp_path):
    path = export_forward_gif(ForwardSettings(n_points=500, T=100), 7, 10, 128, tmp_path / "f.gif")
    frames = iio.imread(path, index=None)
    assert frames.shape == (7, 128, 128, 3)
    meta = iio.immeta(path, index=0)
    assert meta["duration"] == 100 and meta["loop"] == 0
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1, "the data dissolves"
    for bad in [dict(n_frames=1), dict(n_frames=10**4), dict(size=8), dict(fps=0)]:
        args = dict(n_frames=5, fps=10, size=128) | bad
        with pytest.raises(ValueError):
            export_forward_gif(ForwardSettings(n_points=50, T=10), path=tmp_path / "g.gif", **args)
    assert not (tmp_path / "g.gif").exists()
