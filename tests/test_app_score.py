"""The Score and likelihood tab through gradio_client, with the app in-process."""

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from explorer.runs import score as score_run
from tests.appserver import plot_traces, running_app, update_value


@pytest.fixture(scope="module")
def client():
    with running_app() as url:
        yield Client(url, download_files=False, verbose=False)


def test_the_score_field_and_its_t_slider(client, monkeypatch):
    monkeypatch.setattr(score_run, "FIELD_FRAMES", 8)
    slider, plot, info = client.predict("spiral-mlp", 3, api_name="/score_field")
    assert slider["maximum"] == 7 and "relative error" in info
    names = [trace.get("name") for trace in plot_traces(plot)]
    assert {"learned s_θ(x, t)", "exact score s*(x, t)", "Tweedie x̂₀ from x_t"} <= set(names)
    # scrubbing reads the recorded frames: the last t is T, where the score is -x_t (pure noise)
    plot, info = client.predict(7, api_name="/score_frame")
    assert info.startswith("**t = 1000**")


def test_scrubbing_a_field_never_computes_one(client):
    fresh = Client(client.src, download_files=False, verbose=False)
    with pytest.raises(AppError, match="no longer recorded"):
        fresh.predict(3, api_name="/score_frame")


def test_the_elbo_table_and_its_plots(client):
    table, terms, weights = client.predict("digits-absorbing", 16, 100, "beta", 0, api_name="/elbo")
    assert "bits/dim" in table and "prior L_T" in table and "categorical" in table
    assert len(plot_traces(terms)[0]["x"]) == 16  # runs of 1, 2, 4, ..., 64 up to t = 127, then of 100
    table, terms, weights = client.predict("spiral-mlp", 100, 50, "beta_tilde", 0, api_name="/elbo")
    assert "nats" in table and "a density and may be negative" in table
    assert [trace["name"] for trace in plot_traces(weights)] == ["ELBO (Ho et al. eq. 12)", "L_simple"]


def test_the_exact_likelihood_of_points_and_digits(client):
    info, plot, digits = client.predict("spiral-mlp", 50, 10, 1, 0, api_name="/nll")
    assert "nats" in info and "held out" in info
    assert [trace["type"] for trace in plot_traces(plot)] == ["heatmap", "heatmap"]
    assert update_value(digits) is None or not digits.get("visible", True)
    info, plot, digits = client.predict("digits-unet", 4, 5, 1, 0, api_name="/nll")
    assert "bits/dim" in info and "dequantisation" in info and update_value(digits)["path"]


@pytest.mark.parametrize(
    "endpoint, args, message",
    [("/nll", ("digits-uniform", 4, 10, 1, 0), "no probability-flow ODE"),
     ("/score_field", ("digits-unet", 0), "a point model"),
     ("/elbo", ("spiral-mlp", 10, 10, "huge", 0), "Reverse variance"),
     ("/nll", ("spiral-mlp", 10, 10, 99, 0), "Value 99 is greater than maximum")],
)  # fmt: skip
def test_bad_requests_are_refused_with_a_message(client, endpoint, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=endpoint)
