"""Figures and frames: plotly's own validator accepts every figure dict; frames are drawn where expected."""

import numpy as np
import plotly.graph_objects as go
import pytest

from explorer.core.schedules import make_schedule
from explorer.viz import figures, frames
from tests.appserver import decode


def test_typed_arrays_round_trip():
    values = np.array([0.5, -1.25, 3.0])
    assert decode(figures.typed(values)).tolist() == [0.5, -1.25, 3.0]


def test_points_figure_is_valid_plotly():
    x = np.random.default_rng(0).normal(size=(100, 2))
    fig = figures.points_figure(x, np.linspace(0, 1, 100), 3.0, "spiral")
    go.Figure(fig)  # raises on any invalid property
    np.testing.assert_allclose(decode(fig["data"][0]["x"]), x[:, 0].astype(np.float32))
    assert fig["layout"]["xaxis"]["range"] == [-3.0, 3.0]


def test_schedule_figure_marks_the_step():
    cosine, linear = make_schedule("cosine", 100), make_schedule("linear", 100)
    fig = figures.schedule_figure([cosine, linear, make_schedule("linear", 100, True)], 40)
    go.Figure(fig)
    assert len(fig["data"]) == 3 * 3 + 1
    marker = fig["data"][-1]
    assert marker["y"] == pytest.approx([cosine.sqrt_alpha_bar[39].item(), cosine.sqrt_one_minus_alpha_bar[39].item()])
    assert decode(fig["data"][-2]["y"]).min() == figures.LOG_SNR_DISPLAY_MIN  # -inf drawn at the floor


def test_histogram_figure_is_valid_plotly():
    edges = np.linspace(-4, 4, 61)
    grid = np.linspace(-4, 4, 101)
    fig = figures.histogram_figure(edges, np.ones(60) / 8, grid, np.ones(101) / 8, np.ones(101) * 0.4, "h")
    go.Figure(fig)
    assert [trace["name"] for trace in fig["data"]] == ["samples", "exact q(x_t)", "N(0, 1)"]


def test_points_are_drawn_where_they_are():
    x = np.array([[0.0, 0.0], [2.9, 2.9]])
    frame = frames.render_points(x, np.array([0.0, 1.0]), 200, 3.0)
    band, bar = frames._layout(200)
    side = 200 - band - bar
    left = (200 - side) // 2
    centre = frame[band + side // 2, left + side // 2]
    corner = frame[band + round((3 - 2.9) / 6 * (side - 1)), left + round(5.9 / 6 * (side - 1))]
    assert tuple(centre) == tuple(frames.viridis(np.array([0.0]))[0])
    assert tuple(corner) == tuple(frames.viridis(np.array([1.0]))[0])


def test_image_grid_tiles_images():
    images = np.stack([np.full((1, 2, 2), -1.0), np.full((1, 2, 2), 1.0)])
    grid = frames.image_grid(images, 40, gap=0)
    # two columns, one row: each 2x2 image enlarged 10x to 20x20, centred vertically
    assert grid.shape == (40, 40, 3)
    assert (grid[10:30, :20] == 0).all() and (grid[10:30, 20:] == 255).all()
    assert (grid[:10] == frames.BACKGROUND).all() and (grid[30:] == frames.BACKGROUND).all()


def test_quality_against_nfe_goes_on_a_log_axis_where_it_spans_decades():
    spread = figures.nfe_figure({"DDIM": ([5, 10, 50], [0.09, 0.01, 0.0005])}, "mean distance to the spiral")
    narrow = figures.nfe_figure({"DDIM": ([5, 10, 50], [0.95, 0.97, 0.99])}, "confidence")
    signed = figures.nfe_figure({"DDIM": ([5, 10], [-1.0, 0.5])}, "score")
    assert spread["layout"]["yaxis"]["type"] == "log" and spread["layout"]["xaxis"]["type"] == "log"
    assert narrow["layout"]["yaxis"]["type"] == "linear" and signed["layout"]["yaxis"]["type"] == "linear"
    go.Figure(spread)  # valid plotly


def test_empty_panels_say_what_to_press():
    fig = figures.waiting_figure("training loss", "Press Start", height=300)
    assert fig["data"] == [] and fig["layout"]["annotations"][0]["text"] == "Press Start"
    assert fig["layout"]["xaxis"]["visible"] is False
    go.Figure(fig)
