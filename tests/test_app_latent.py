"""The Latent space tab through gradio_client, with the app in-process."""

import imageio.v3 as iio
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.appserver import plot_traces, running_app, update_value


@pytest.fixture(scope="module")
def client():
    with running_app() as url:
        yield Client(url, download_files=False, verbose=False)


def test_invert_points(client):
    latents, images, histogram, errors, info = client.predict("spiral-mlp", 20, 300, 0, None,
                                                              api_name="/latent_invert")  # fmt: skip
    assert "300 items, 20 steps each way" in info and "round-trip MSE" in info
    names = [t.get("name") for t in plot_traces(latents)]
    assert "data x_0" in names and "paths" in names
    curve = plot_traces(errors)[0]
    assert curve["x"] == [5, 10, 20, 50, 100, 200] and curve["y"][0] > curve["y"][-1]


def test_invert_an_uploaded_image(client, tmp_path):
    path = tmp_path / "digit.png"
    iio.imwrite(path, np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (32, 1)))
    _, images, _, _, info = client.predict("digits-unet", 20, 16, 0, handle_file(str(path)),
                                           api_name="/latent_invert")  # fmt: skip
    assert "1 items, 20 steps each way" in info
    assert iio.imread(update_value(images)["path"]).shape == (300, 3 * 300 + 2 * 6, 3)


def test_interpolate_digits_and_export(client):
    args = ["digits-unet", 20, 16, 0, "0", "5", None, None, 7]
    played, _, strip, norms, info = client.predict(*args, api_name="/latent_interpolate")
    assert "Mid-way" in info
    # the morph plays in the browser: slerp beside lerp on one clock, one decoded digit per alpha
    assert [(p["title"], p["kind"], p["frames"]) for p in played["panels"]] == [("slerp", "images", 7),
                                                                                ("lerp", "images", 7)]  # fmt: skip
    assert played["labels"][0].startswith("alpha = 0.00") and played["labels"][-1].startswith("alpha = 1.00")
    by_name = {t["name"]: t["y"] for t in plot_traces(norms)}
    assert by_name["lerp"][3] < by_name["slerp"][3]
    assert iio.imread(update_value(strip)["path"]).shape[1] == 56 + 7 * 56 + 6 * 4  # the rows' names, 7 images
    gif, *_ = client.predict(*args, 4, 96, api_name="/latent_gif")
    assert iio.imread(update_value(gif)["path"], index=None).shape[0] == 7


def test_a_point_morph_plays_its_trail_over_the_data(client):
    played, path_plot, *_ = client.predict("spiral-mlp", 20, 300, 0, "0", "1.0, -0.5", None, None, 5,
                                           api_name="/latent_interpolate")  # fmt: skip
    slerp, lerp = played["panels"]
    assert (slerp["n"], slerp["frames"], slerp["paths"]) == (1, 5, [0]), "one decoded point a frame, with its trail"
    assert slerp["overlay"]["n"] == 300 and slerp["overlay"]["color"] == [199, 210, 254], "the drawn data, pale"
    assert "alpha = 0.50" in played["labels"][2] and "slerp" in played["labels"][2]


@pytest.mark.parametrize(
    "args, message",
    [
        (["spiral-mlp", 20, 300, 0, "999", "1", None, None, 5], "item index must be between 0 and 299"),
        (["spiral-mlp", 20, 300, 0, "north", "1", None, None, 5], "a point is 'x, y'"),
        (["spiral-mlp", 20, 300, 0, "1, 2, 3", "1", None, None, 5], "a point is 2 finite numbers"),
        (["spiral-mlp", 2000, 300, 0, "0", "1", None, None, 5], "greater than maximum value 1000"),
        (["nosuch", 20, 300, 0, "0", "1", None, None, 5], "no model named 'nosuch'"),
    ],
)
def test_bad_interpolation_requests(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/latent_interpolate")


def test_a_file_that_is_not_an_image_is_refused(client, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(AppError, match="the uploaded file is not an image Pillow can read"):  # the app's own words
        client.predict("digits-unet", 20, 16, 0, handle_file(str(path)), api_name="/latent_invert")


def test_rectified_flow_against_diffusion(client):
    """The independent, minibatch-OT and reflow couplings beside diffusion's DDIM paths, from one x_T."""
    diffusion, flow, otflow, reflow, images, table, info = client.predict(
        "spiral-mlp", "spiral-flow", "spiral-otflow", "spiral-reflow", 0, api_name="/latent_flow")  # fmt: skip
    assert "Straightness" in info
    rows = {row[0]: row[1:] for row in table["data"]}
    assert set(rows) == {"spiral-mlp", "spiral-flow", "spiral-otflow", "spiral-reflow"}
    # one reflow straightens the paths (measured 0.0008 against 0.146 and 0.039) and makes one step enough
    assert rows["spiral-reflow"][0] < 0.1 * min(rows["spiral-flow"][0], rows["spiral-mlp"][0])
    assert rows["spiral-reflow"][1] < 0.1 * min(rows["spiral-flow"][1], rows["spiral-mlp"][1])
    # so do minibatch-OT pairs in one training run: one Euler step 0.022 from the spiral against 0.33
    assert rows["spiral-otflow"][0] < 0.1 * rows["spiral-flow"][0] and rows["spiral-otflow"][2] < 0.03
    # the first rectified flow beats DDIM with 5 and 10 steps
    assert rows["spiral-flow"][3] < rows["spiral-mlp"][3] and rows["spiral-flow"][4] < rows["spiral-mlp"][4]
    for plot in (otflow, reflow):
        assert "paths" in [t.get("name") for t in plot_traces(plot)]
    # an empty optional slot hides its plot, whichever slot it is
    _, _, otflow, reflow, *_ = client.predict("spiral-mlp", "spiral-flow", None, "spiral-reflow", 0,
                                              api_name="/latent_flow")  # fmt: skip
    assert otflow.get("visible") is False and "paths" in [t.get("name") for t in plot_traces(reflow)]
    with pytest.raises(AppError, match="same data"):
        client.predict("two_moons-mlp", "spiral-flow", None, None, 0, api_name="/latent_flow")
    with pytest.raises(AppError, match="choose a diffusion model and a rectified-flow model"):
        client.predict("spiral-mlp", None, None, None, 0, api_name="/latent_flow")
