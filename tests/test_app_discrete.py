"""The Discrete (D3PM) tab through gradio_client, with the app in-process."""

import json

import imageio.v3 as iio
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.appserver import running_app, update_value

# dataset, transition, T, K, n, seed, text, image
DIGITS = ["digits", "absorbing", 100, 4, 16, 0, "", None]


@pytest.fixture(scope="module")
def client():
    with running_app() as url:
        yield Client(url, download_files=False, verbose=False)


def test_view_scrub_and_export(client):
    slider, sample, sentence, heat, bars, curve, info = client.predict(*DIGITS, 50, api_name="/d3pm_view")
    assert "t = 50 of 100" in info and "18 states" in info
    assert iio.imread(update_value(sample)["path"]).shape == (360, 360, 3)
    z = json.loads(heat["plot"])["data"][0]["z"]
    assert len(z) == 18 and abs(z[0][0] - 0.5) < 1e-9 and abs(z[0][17] - 0.5) < 1e-9  # half masked at t = T/2
    *_, info_end = client.predict(*DIGITS, 100, api_name="/d3pm_step")
    assert "total variation to the stationary distribution 0.000" in info_end
    gif, *_ = client.predict(*DIGITS, 5, 10, 128, api_name="/d3pm_gif")
    assert iio.imread(gif["value"]["path"], index=None).shape == (5, 128, 128, 3)


def test_text_with_uniform_replacement(client):
    args = ["text", "uniform", 50, 4, 16, 0, "hello world", None]
    _, _, sentence, *_ = client.predict(*args, 0, api_name="/d3pm_view")
    assert "hello world" in update_value(sentence)


@pytest.mark.parametrize(
    "args, message",
    [
        (["text", "uniform", 50, 4, 16, 0, "héllo", None], "outside the vocabulary"),
        (["image", "uniform", 50, 4, 16, 0, "", None], "upload an image first"),
        (["digits", "rotate", 50, 4, 16, 0, "", None], "'Transition' expects one of its choices, got 'rotate'"),
    ],
)
def test_bad_requests(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, 10, api_name="/d3pm_view")


def test_generate_scrub_and_export_with_the_shipped_absorbing_model(client):
    settings = ["digits-absorbing", 4, 10, 0]
    played, slider, frame, info = client.predict(*settings, api_name="/d3pm_sample")
    assert [p["kind"] for p in played["panels"]] == ["images", "images"] and played["frames"] == len(played["labels"])
    assert update_value(slider) == 10 and "10 reverse steps" in info and "reads the final samples as" in info
    assert iio.imread(frame["path"]).shape[2] == 3
    frame0, info0 = client.predict(0, api_name="/d3pm_reverse_step")
    assert "t = 1000 of 1000" in info0
    picture = iio.imread(frame0["path"])
    half = picture[:, : picture.shape[1] // 2]
    red = (half[..., 0] > 200) & (half[..., 1] < 60)
    assert red.mean() > 0.3  # x_T is all [MASK], drawn red
    gif, *_ = client.predict(*settings, 4, 10, 128, api_name="/d3pm_reverse_gif")
    assert iio.imread(gif["value"]["path"], index=None).shape[0] == 4


def test_score_reads_fd_precision_and_recall_of_297_generated_digits(client):
    """Score draws 297 digits with Generate's settings (10 steps here) and reads them against the
    floor: the same numbers as the evaluate command with the same settings."""
    from explorer.runs.evaluate import EvaluateSettings, run_evaluation
    from explorer.sampling.registry import SamplerSettings

    text = client.predict("digits-absorbing", 4, 10, 0, api_name="/d3pm_score")
    direct = run_evaluation(EvaluateSettings("digits-absorbing", 297, 0, SamplerSettings(steps=10))).metrics
    assert f"**FD {direct['fd']:.2f}**" in text and f"real held-out digits: {direct['fd_floor']:.2f}" in text
    assert f"recall {direct['recall']:.2f}" in text and "297 samples of D3PM ancestral, 10 steps" in text


@pytest.mark.parametrize(
    "settings, message",
    [
        (["spiral-mlp", 4, 10, 0], "Gaussian diffusion model"),
        (["digits-absorbing", 4, 5000, 0], "greater than maximum"),  # the slider refuses it; the core too (test_d3pm)
        (["../etc/passwd", 4, 10, 0], "bad model name"),
    ],
)
def test_bad_generation_requests(client, settings, message):
    with pytest.raises(AppError, match=message):
        client.predict(*settings, api_name="/d3pm_sample")
