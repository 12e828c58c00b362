"""The Reverse and Train tabs through gradio_client, with the app in-process."""

import json
import time

import imageio.v3 as iio
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from explorer.config import user_models_dir
from explorer.serve.state import make_state
from explorer.store.checkpoint import load_checkpoint
from explorer.training.config import TrainConfig
from explorer.training.trainer import Trainer
from explorer.ui import training_tab
from explorer.ui.training_tab import GAUSSIAN
from tests.appserver import running_app, update_value

STATE = make_state(training_tab.make_job)  # the app's state, shared with the tests that inspect its queue

ANY = ["any", 1.0]  # class picker and guidance scale: unconditional
SPIRAL = ["spiral-mlp", 300, 0, "beta_tilde", False, *ANY]  # model, n, seed, variance, ideal, class, w


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPLORER_MODELS_DIR", str(models))
        with running_app(STATE) as url:
            yield Client(url, download_files=False, verbose=False)


def train_in_panel(client, args):
    """Start a training job through the API (args end with name, resume), check that it started,
    and wait for it to end."""
    assert f"started **{args[-2]}**" in client.predict(*args, api_name="/train_start")
    job = STATE.queue.ticket_of_name(args[-2]).job
    job.join(120)
    return job


def test_sample_scrub_and_export(client):
    played, slider, xt, x0, _, _, curve, info, strip = client.predict(*SPIRAL, True, "", api_name="/reverse_sample")
    # the whole run goes to the browser's player once: x_t and x0_hat at all 201 recorded steps, 300 points
    assert played["frames"] == 201 and [p["kind"] for p in played["panels"]] == ["points", "points"]
    assert played["panels"][0]["n"] == 300 and played["panels"][1]["overlay"]["n"] == 300
    assert played["labels"][0].startswith("t = 1000 of 1000") and played["curve"]["series"]
    assert update_value(slider) == 0 and "t = 0 of 1000" in info and "1000 model evaluations" in info
    final = float(info.split("distance to the spiral ")[1].split(" ")[0])
    assert final < 0.03, "the shipped spiral model lands on the spiral"
    names = [trace.get("name") for trace in json.loads(update_value(x0)["plot"])["data"]]
    assert "ideal x̂₀ (training set)" in names
    *_, info_mid = client.predict(True, 500, api_name="/reverse_step")
    mid = float(info_mid.split("distance to the spiral ")[1].split(" ")[0])
    assert "t = 500 of 1000" in info_mid and mid > final
    gif, _, download = client.predict(*SPIRAL, 6, 10, 128, api_name="/reverse_gif")
    assert iio.imread(update_value(gif)["path"], index=None).shape == (6, 128, 2 * 128 + 6, 3)


def test_bad_reverse_requests(client):
    for args, message in [(["../../etc/passwd", 300, 0, "beta_tilde", False, *ANY], "bad model name"),
                          (["nosuch", 300, 0, "beta_tilde", False, *ANY], "no model named 'nosuch'"),
                          ([None, 300, 0, "beta_tilde", False, *ANY], "choose a model first")]:  # fmt: skip
        with pytest.raises(AppError, match=message):
            client.predict(*args, True, "", api_name="/reverse_sample")


def test_train_in_the_background_then_sample_the_new_model(client):
    # dataset, size, corruption, conditional, schedule, T, prediction, steps, batch, lr, seed, name, resume
    args = ["two_moons", "small (width 64, depth 3)", GAUSSIAN, False, "linear", 100, "eps", 150, 256, 2e-3, 0,
            "tiny-moons", False]  # fmt: skip
    status = client.predict(*args, api_name="/train_start")
    assert "started **tiny-moons**" in status
    with pytest.raises(AppError, match="already running|exists already"):
        client.predict(*args, api_name="/train_start")
    job = STATE.queue.ticket_of_name(args[11]).job
    job.join(120)
    snap = job.snapshot()
    assert snap.status == "done" and snap.step == 150 and snap.losses
    assert snap.preview is not None and snap.preview.shape == (256, 2)
    info = client.predict("tiny-moons", 200, 0, "beta_tilde", False, *ANY, False, "", api_name="/reverse_sample")[-2]
    assert "t = 0 of 100" in info
    with pytest.raises(AppError, match="exists already"):
        client.predict(*args, api_name="/train_start")


def test_a_retrained_model_is_served_with_its_new_weights(client):
    """Retraining a model under the same name (here with another seed, as `train --out` over its folder
    would) changes what the running app serves from the next request on: the registry looks models
    up by their current weights' hash, and recorded runs are keyed on it."""
    args = ["two_moons", "small (width 64, depth 3)", GAUSSIAN, False, "linear", 100, "eps", 150, 256, 2e-3, 0,
            "retrained-moons", False]  # fmt: skip
    train_in_panel(client, args)
    request = [
        "retrained-moons",
        200,
        0,
        "beta_tilde",
        False,
        *ANY,
        False,
        "",
    ]
    before = client.predict(*request, api_name="/reverse_sample")
    first = STATE.registry.weights("retrained-moons")
    assert ("retrained-moons", first) in STATE.registry.loaded()
    trainer = Trainer(TrainConfig(dataset="two_moons", width=64, depth=2, T=100, steps=150, batch=256,
                                          seed=1), user_models_dir() / "retrained-moons")  # fmt: skip
    while trainer.step < 150:
        trainer.train_step()
    trainer.save()
    second = STATE.registry.weights("retrained-moons")
    assert second != first
    computed = STATE.runs.computed
    after = client.predict(*request, api_name="/reverse_sample")
    assert STATE.runs.computed == computed + 1, "the new weights make a new run"
    assert ("retrained-moons", second) in STATE.registry.loaded()
    assert ("retrained-moons", first) not in STATE.registry.loaded(), "the old copy is dropped"
    assert json.loads(update_value(after[3])["plot"]) != json.loads(update_value(before[3])["plot"])
    assert after[0]["panels"][0]["data"] != before[0]["panels"][0]["data"], "the player gets the new run too"


def test_scrubbing_never_samples(client):
    """A scrub request reads the session's recorded run; a session that has recorded none is told
    to sample first, and nothing is computed for it."""
    fresh = Client(client.src, download_files=False, verbose=False)
    computed = STATE.runs.computed
    for api, args in [("/reverse_step", (True, 500)), ("/reverse_strip", ("0, 500",)), ("/compare_frame", (50, False)),
                      ("/d3pm_reverse_step", (3,)), ("/guidance_frame", (2,))]:  # fmt: skip
        with pytest.raises(AppError, match="press Sample"):
            fresh.predict(*args, api_name=api)
    assert STATE.runs.computed == computed


def test_cancel_keeps_the_model(client):
    args = ["rings", "small (width 64, depth 3)", GAUSSIAN, False, "linear", 100, "eps", 100_000, 64, 2e-3, 0,
            "cancelled-rings", False]  # fmt: skip
    client.predict(*args, api_name="/train_start")
    job = STATE.queue.ticket_of_name(args[11]).job
    deadline = time.time() + 60
    while job.snapshot().step < 10 and time.time() < deadline:
        time.sleep(0.1)
    assert "cancelling **cancelled-rings**" in client.predict(args[11], api_name="/train_cancel")
    job.join(60)
    snap = job.snapshot()
    assert snap.status == "cancelled" and load_checkpoint(job.out).info.steps >= 10
    with pytest.raises(AppError, match="less than minimum value 1"):  # the Number field refuses it
        client.predict(*args[:7], 0, *args[8:11], "x", False, api_name="/train_start")


def test_digits_model_in_the_reverse_tab(client):
    digits = ["digits-unet", 4, 0, "beta_tilde", False, *ANY]
    outputs = client.predict(*digits, True, "1000, 500, 0", api_name="/reverse_sample")
    played, slider, xt, x0, xt_image, x0_image, curve, info, strip = outputs
    assert [p["kind"] for p in played["panels"]] == ["images", "images"]
    assert played["panels"][0]["sprite"].startswith("data:image/png;base64,") and played["frames"] == 201
    assert "t = 0 of 1000" in info and "100% of x̂₀ already read as the final digit" in info
    assert update_value(xt_image)["path"] and update_value(x0_image)["path"] and strip["path"]
    *_, info_start = client.predict(True, 1000, api_name="/reverse_step")
    assert "t = 1000 of 1000" in info_start
    strip = client.predict("1000, 750, 500, 250, 0", api_name="/reverse_strip")
    assert iio.imread(strip["path"]).shape[1] == 5 * 150 + 4 * 6  # five frames with 6-pixel gaps
    with pytest.raises(AppError, match="between 0 and 1000"):
        client.predict("2000", api_name="/reverse_strip")
    with pytest.raises(AppError, match="number of samples must be between 1 and 64"):
        client.predict("digits-unet", 100, 0, "beta_tilde", False, *ANY, True, "", api_name="/reverse_sample")


def test_train_digits_in_the_panel(client):
    args = ["digits", "digits UNet (base 32, 1 block a level)", GAUSSIAN, False, "cosine", 20, "v", 4, 16, 1e-3, 0,
            "tiny-digits", False]  # fmt: skip
    job = train_in_panel(client, args)
    snap = job.snapshot()
    assert snap.status == "done" and snap.preview.shape == (16, 1, 8, 8)
    assert "fd_ddpm" in snap.message
    info = client.predict("tiny-digits", 4, 0, "beta", False, *ANY, False, "", api_name="/reverse_sample")[-2]
    assert "t = 0 of 20" in info
    assert "shipped the weights of step 4" in snap.message  # digits in the panel: held out, FD-selected
    score = client.predict("tiny-digits", 0, "beta", False, *ANY, api_name="/reverse_score")
    assert score.startswith("**FD ") and "297 samples of DDPM S=T" in score and "(20 model calls each)" in score
    with pytest.raises(AppError, match="Score ranks image models"):
        client.predict("spiral-mlp", 0, "beta", False, *ANY, api_name="/reverse_score")
    with pytest.raises(AppError, match="the ideal denoiser returns training digits"):
        client.predict("tiny-digits", 0, "beta", True, *ANY, api_name="/reverse_score")


def test_train_a_d3pm_model_in_the_panel_then_generate_with_it(client):
    args = ["digits", "digits UNet (base 32, 1 block a level)", "uniform", False, "cosine", 20, "eps", 4, 16, 1e-3, 0,
            "tiny-d3pm", False]  # fmt: skip
    job = train_in_panel(client, args)
    snap = job.snapshot()
    assert snap.status == "done" and snap.preview.shape == (16, 1, 8, 8), snap.message
    assert "fd_d3pm" in snap.message
    *_, info = client.predict("tiny-d3pm", 4, 20, 0, api_name="/d3pm_sample")
    assert "20 reverse steps" in info and "uniform model" in info


def test_train_a_conditional_model_in_the_panel_then_sweep_guidance(client):
    args = ["patterns", "small (width 64, depth 3)", GAUSSIAN, True, "linear", 50, "v", 20, 256, 2e-3, 0,
            "tiny-cond", False]  # fmt: skip
    job = train_in_panel(client, args)
    assert job.snapshot().status == "done"
    played, _, picture, info, plot = client.predict("tiny-cond", 2, 200, 10, 0, api_name="/guidance_sweep")
    assert [p["title"] for p in played["panels"]] == ["w = 0", "w = 1", "w = 2", "w = 4", "w = 8"]
    assert "class circle" in info and "w = 8: precision" in info
    assert iio.imread(picture["path"]).shape[1] > 5 * 200  # five panels side by side
    with pytest.raises(AppError, match="class label must be between 0 and 3"):
        client.predict("tiny-cond", 7, 200, 10, 0, api_name="/guidance_sweep")
    with pytest.raises(AppError, match="not class-conditional"):
        client.predict("spiral-mlp", 0, 200, 10, 0, api_name="/guidance_sweep")
    # the Reverse tab's class picker appears for the conditional model and steers its samples
    from explorer.ui.conditioning import on_model

    picker, scale = on_model("tiny-cond", "any")
    assert picker["visible"] and scale["visible"] and ("2: circle", "2") in picker["choices"]
    assert on_model("spiral-mlp", "2")[0] == {"__type__": "update", "choices": [("any (unconditional)", "any")],
                                          "value": "any", "visible": False}  # fmt: skip
    info = client.predict("tiny-cond", 200, 0, "beta_tilde", False, "2", 2.0, False, "", api_name="/reverse_sample")[-2]
    assert "class circle, w = 2: the reference classifier reads" in info
    with pytest.raises(AppError, match="not class-conditional"):
        client.predict("spiral-mlp", 200, 0, "beta_tilde", False, "1", 1.0, False, "", api_name="/reverse_sample")
    with pytest.raises(AppError, match="greater than maximum"):
        client.predict("tiny-cond", 200, 0, "beta_tilde", False, "1", 50.0, False, "", api_name="/reverse_sample")
