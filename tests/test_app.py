"""The running app through gradio_client: every Forward endpoint, and bad input as messages."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from explorer.core.schedules import make_schedule
from explorer.ui.forward_tab import STRIP_FRAME_SIZE
from tests.appserver import decode, plot_traces, running_app, update_value
from tests.images import write_huge_png_header, write_png

# dataset, upload, image_size, grey, n_points, n_images, noise, seed, schedule, T, zero_snr, mode
SPIRAL = ["spiral", None, 64, False, 2000, 16, 0.0, 0, "cosine", 1000, False, "shortcut"]


def settings(**change):
    names = ["dataset", "upload", "image_size", "grey", "n_points", "n_images", "noise", "seed", "schedule", "T",
             "zero_snr", "mode"]  # fmt: skip
    values = dict(zip(names, SPIRAL, strict=True)) | change
    return [values[name] for name in names]


@pytest.fixture(scope="module")
def url():
    with running_app() as local_url:
        yield local_url


@pytest.fixture(scope="module")
def client(url):
    return Client(url, download_files=False, verbose=False)


def test_the_whole_process_goes_to_the_player_once(client):
    played, schedule, variance, info, strip = client.predict(*settings(), ["linear"], "", api_name="/forward_view")
    assert "Spiral" in info and "cosine schedule" in info
    blend, bars = played["panels"]
    assert played["frames"] == 1001 and blend["kind"] == "blend" and blend["form"] == "points" and blend["n"] == 2000
    sched = make_schedule("cosine", 1000)
    # x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps is computed in the browser from these: t = 500 is index 499
    assert blend["signal"][0] == 1.0 and blend["noise"][0] == 0.0
    assert abs(blend["signal"][500] - float(sched.sqrt_alpha_bar[499])) < 1e-6
    assert abs(blend["noise"][500] - float(sched.sqrt_one_minus_alpha_bar[499])) < 1e-6
    label = played["labels"][500]
    assert f"N({float(sched.sqrt_alpha_bar[499]):.3f}·x₀" in label and "t = 500 of 1000" in label
    assert bars["kind"] == "bars" and bars["frames"] == 201 and [line["name"] for line in bars["lines"]] == [
        "q(x_t), exact", "N(0, 1)"]  # fmt: skip
    assert set(played["curve"]["series"]) == {"signal a_t (cosine)", "signal a_t (linear)", "noise s_t (cosine)"}
    names = {trace.get("name") for trace in plot_traces(schedule)}
    assert {"cosine", "linear"} <= names
    # each schedule's signal in the player wears its colour of the Plotly chart
    plotly = {trace["name"]: trace["line"]["color"] for trace in plot_traces(schedule) if trace.get("line")}
    colors = played["curve"]["colors"]
    assert colors["signal a_t (cosine)"] == plotly["cosine"] and colors["signal a_t (linear)"] == plotly["linear"]
    assert len(set(colors.values())) == 3
    # Var(x_t) = a^2 Var(x0) + s^2: the data's variance at t = 0, about 1 at t = T for VP
    curves = {trace["name"]: decode(trace["y"]) for trace in plot_traces(variance)}
    assert set(curves) == {"cosine", "linear"} and 0.25 < curves["cosine"][0] < 0.35
    assert abs(curves["cosine"][-1] - 1.0) < 1e-3
    # the default strip: six frames (t = 0, 200, ..., 1000) with 6-pixel gaps
    assert iio.imread(strip["path"]).shape == (STRIP_FRAME_SIZE, 6 * STRIP_FRAME_SIZE + 5 * 6, 3)


def test_the_blend_reproduces_the_servers_x_t():
    """What the browser computes from the payload is q_sample's x_t, to the 12-bit and 8-bit grids."""
    import base64
    import zlib

    from explorer.runs.forward import ForwardSettings, forward_process
    from explorer.viz.playback import forward_payload
    from explorer.viz.player import EPS_LIM, decode_points

    process = forward_process(ForwardSettings(n_points=500))
    blend = forward_payload(process, str)["panels"][0]
    x0 = decode_points(blend["x0"], (1, 500, 2), blend["lim"], blend["levels"])[0]
    eps = decode_points(blend["eps"], (1, 500, 2), EPS_LIM, blend["levels"])[0]
    for t in (1, 300, 1000):
        browser = blend["signal"][t] * x0 + blend["noise"][t] * eps
        assert np.abs(browser - process.x_at(t).numpy()).max() < 3e-3, t
    bars = forward_payload(process, str)["panels"][1]
    heights = np.frombuffer(zlib.decompress(base64.b64decode(bars["heights"])), np.uint8).reshape(bars["frames"], -1)
    curves = [np.frombuffer(zlib.decompress(base64.b64decode(line["data"])), np.uint8).reshape(bars["frames"], -1)
              for line in bars["lines"]]  # fmt: skip
    tallest = np.max([heights.max(axis=1), *(c.max(axis=1) for c in curves)], axis=0)
    assert (tallest == 255).all(), "each frame fills its own y scale: t = 0's spikes do not flatten the rest"
    digits = forward_payload(forward_process(ForwardSettings(dataset="digits", n_images=4)), str)["panels"][0]
    raw = np.frombuffer(zlib.decompress(base64.b64decode(digits["x0"])), np.uint8)
    assert digits["form"] == "images" and raw.size == 4 * 1 * 8 * 8 and (digits["count"], digits["h"]) == (4, 8)


def test_the_chain_route_sends_recorded_frames(client):
    played, *_ = client.predict(*settings(dataset="digits", mode="chain"), [], "", api_name="/forward_view")
    assert played["panels"][0]["kind"] == "images" and played["frames"] == 201
    assert played["labels"][-1].startswith("t = 1000 of 1000 ·")


def test_the_variance_exploding_process_keeps_the_data_and_grows_to_sigma_max(client):
    """VE on the spiral: sigma_max is the data's largest pairwise distance (about 2), the view and the histogram
    widen to hold N(0, sigma_max^2), the signal stays 1, and Var(x_T) = Var(x0) + sigma_max^2."""
    played, _, variance, info, _ = client.predict(*settings(schedule="ve"), ["linear", "subvp"], "",
                                                  api_name="/forward_view")  # fmt: skip
    blend, bars = played["panels"]
    sigma_max = blend["noise"][-1]
    assert 1.9 < sigma_max < 2.9 and f"σ_max = {sigma_max:.3g}" in info and "ve schedule" in info
    assert set(blend["signal"]) == {1.0} and blend["lim"] == pytest.approx(3 * sigma_max)
    assert [line["name"] for line in bars["lines"]] == ["q(x_t), exact", f"N(0, {sigma_max:.3g}²)"]
    assert "σ_t = " in played["labels"][-1]
    curves = {trace["name"]: decode(trace["y"]) for trace in plot_traces(variance)}
    assert curves["ve"][-1] == pytest.approx(curves["ve"][0] + sigma_max**2, rel=1e-5)
    assert curves["subvp"][500] < curves["linear"][500] < 1.0 + 1e-9


def test_upload(client, tmp_path):
    png = write_png(tmp_path / "photo.png", 90, 60)
    played, *_ = client.predict(*settings(dataset="upload", upload=handle_file(str(png)), image_size=32), [], "",
                                api_name="/forward_view")  # fmt: skip
    assert played["panels"][0]["form"] == "images" and played["panels"][0]["w"] == 32


def test_strip_endpoint(client):
    strip = client.predict(*settings(), "0, 500, 1000", api_name="/forward_strip")
    assert strip["path"]


def test_export_gif(client):
    gif, video, download = client.predict(*settings(n_points=500), 9, 10, 160, api_name="/export_gif")
    assert update_value(gif)["path"].endswith(".gif") and update_value(download)["path"].endswith(".gif")
    assert iio.imread(update_value(gif)["path"], index=None).shape == (9, 160, 160, 3)
    assert video["visible"] is False and gif["visible"] is True


def test_export_mp4_is_a_playable_h264_video(client):
    import imageio_ffmpeg

    gif, video, download = client.predict(*settings(n_points=500), 9, 10, 160, "MP4", api_name="/export_gif")
    path = update_value(video)["video"]["path"] if "video" in update_value(video) else update_value(video)["path"]
    assert path.endswith(".mp4") and update_value(download)["path"] == path and gif["visible"] is False
    reader = imageio_ffmpeg.read_frames(path)
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(160, 160, 3) for f in reader]
    assert meta["codec"] == "h264" and meta["size"] == (160, 160) and meta["fps"] == 10 and len(frames) == 9
    assert frames[0].std() > 0 and not np.array_equal(frames[0], frames[-1]), "data first, noise last"
    with pytest.raises(AppError, match="'Format' expects one of its choices"):
        client.predict(*settings(), 9, 10, 160, "AVI", api_name="/export_gif")


@pytest.mark.parametrize(
    "change, step, message",
    [(dict(T=0), 0, "T must be between 2 and 4000"), (dict(T=10**7), 0, "T must be between 2 and 4000")],
)  # fmt: skip
def test_bad_input_is_a_clear_message(client, change, step, message):
    with pytest.raises(AppError, match=message):
        client.predict(*settings(**change), [], "", api_name="/forward_view")


def test_choosing_the_upload_set_waits_for_an_upload_instead_of_failing(client):
    played, _, _, info, _ = client.predict(*settings(dataset="upload"), [], "", api_name="/forward_view")
    assert "Upload an image" in info and played is None


def test_a_bad_strip_field_does_not_freeze_the_view(client):
    """'1, 2, x' in the strip field warns about the strip; the plots still follow the settings."""
    played, _, _, info, strip = client.predict(*settings(dataset="two_moons"), [], "1, 2, x",
                                               api_name="/forward_view")  # fmt: skip
    assert "Two moons" in info and played["panels"][0]["n"] == 2000


def raw_call(url: str, api_name: str, body: str) -> str:
    """POST a hand-written JSON body (NaN is not JSON, so gradio_client cannot send it) and
    return the event stream's text."""
    import httpx

    base = url.rstrip("/") + "/gradio_api/call/" + api_name
    event = httpx.post(base, content=body, headers={"Content-Type": "application/json"}, timeout=30).json()
    return httpx.get(f"{base}/{event['event_id']}", timeout=60).text


@pytest.mark.parametrize(
    "index, message", [(9, "'T (steps, 2 to 4000)' expects a number, got nan"), (6, "noise must be a finite number")]
)
def test_nan_through_the_api_is_a_clear_message(url, index, message):
    values = [*settings(), [], ""]
    values[index] = float("nan")
    stream = raw_call(url, "forward_view", json.dumps({"data": values}))  # json writes NaN
    assert "event: error" in stream and message in stream


def test_bad_uploads_are_clear_messages(client, tmp_path):
    text = tmp_path / "letter.png"
    text.write_text("Dear diffusion model, ...")
    bomb = write_huge_png_header(tmp_path / "huge.png")
    for path, message in [(text, "not an image"), (bomb, "the limit is 16,777,216 pixels")]:
        with pytest.raises(AppError, match=message):
            client.predict(*settings(dataset="upload", upload=handle_file(str(path))), [], "", api_name="/forward_view")


def test_bad_gif_request(client):
    with pytest.raises(AppError, match="greater than maximum value 200"):  # the slider refuses it
        client.predict(*settings(), 100000, 10, 160, api_name="/export_gif")
