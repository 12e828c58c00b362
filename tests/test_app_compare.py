"""The Sampler comparison tab through gradio_client, with the app in-process."""

import csv
import json

import imageio.v3 as iio
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from explorer.runs import curves
from tests.appserver import running_app, update_value

# (enabled, sampler, steps, spacing, eta) x 4
ROWS = [True, "ddpm", 200, "trailing", 1.0, True, "ddim", 20, "trailing", 0.0,
        True, "dpmpp2m", 10, "logsnr", 0.0, False, "heun", 10, "karras", 0.0]  # fmt: skip
SETTINGS = ["spiral-mlp", 300, 0, True, "any", 1.0]  # model, n, seed, clip, class, w
FLOW = ["spiral-flow", *SETTINGS[1:]]


@pytest.fixture(scope="module")
def client():
    with running_app() as url:
        yield Client(url, download_files=False, verbose=False)


def test_run_scrub_and_export(client):
    played, percent, panels, table, info, diagnostic = client.predict(*SETTINGS, 100, False, *ROWS,
                                                                      api_name="/compare_run")  # fmt: skip
    # the three runs go to the player once, each with its recorded frames, one clock for all
    assert [p["title"].split()[0] for p in played["panels"]] == ["DDPM", "DDIM", "DPM++2M"]
    assert played["frames"] == max(p["frames"] for p in played["panels"]) == 201
    assert update_value(percent) == 100
    assert table["headers"] == ["sampler", "S", "spacing", "η", "NFE", "ms", "quality ↓"], "only the columns that apply"
    rows = table["data"]
    assert [r[0] for r in rows] == ["DDPM", "DDIM", "DPM-Solver++(2M)"] and [r[4] for r in rows] == [200, 20, 10]
    assert all(0 < r[6] < 0.1 for r in rows) and "mean distance to the spiral" in info
    traces = json.loads(diagnostic["plot"])["data"]
    assert traces[0]["name"] == "log-SNR" and len(traces) == 1 + 2 * 3
    assert len(traces[3]["x"]) == 20  # DDIM's 20 timesteps
    width = iio.imread(panels["path"]).shape[1]
    mid = client.predict(50, True, api_name="/compare_frame")
    assert iio.imread(mid["path"]).shape[1] == width
    gif, _, download = client.predict(*SETTINGS, 4, 10, 96, "GIF", *ROWS, api_name="/compare_gif")
    assert iio.imread(gif["value"]["path"], index=None).shape == (4, 96, 3 * 96 + 12, 3)


def test_an_image_comparison_is_scored_by_fd_at_297_samples(client, monkeypatch):
    """A run of 4 digits leaves the quality column empty and says how to score; Score draws 297 samples
    for each configuration (the evaluate command's numbers: one DDIM step, a blur of the mean digit, far
    behind ten), and the curves plot FD on a log axis with the real digits' floor."""
    from explorer.runs.evaluate import EvaluateSettings, run_evaluation
    from explorer.sampling.registry import SamplerSettings
    from explorer.ui.scoring import SCORE_HEADERS

    settings = ["digits-unet", 4, 0, True, "any", 1.0]
    rows = [True, "ddim", 1, "trailing", 0.0, True, "ddim", 10, "trailing", 0.0, *ROWS[10:]]  # one step: a blur
    rows[10] = False
    *_, table, info, _ = client.predict(*settings, 100, False, *rows, api_name="/compare_run")
    assert [r[-1] for r in table["data"]] == ["", ""] and "n = 297" in info and "Score 297 samples" in info
    scores, floor = client.predict(*settings, *rows, api_name="/compare_score")
    assert update_value(scores)["headers"] == SCORE_HEADERS
    fds = [row[2] for row in update_value(scores)["data"]]
    bound = 1.0  # the clip box ticked: x0_hat within the digits' range, as the comparison ran
    direct = run_evaluation(EvaluateSettings("digits-unet", 297, 0, SamplerSettings("ddim", 10, spacing="trailing",
                                                                                    clip_x0=bound)))  # fmt: skip
    assert fds[1] == round(direct.metrics["fd"], 2) and fds[0] > 3 * fds[1], fds
    assert "297 real held-out digits score FD" in floor
    monkeypatch.setattr(curves, "CURVE_STEPS", (2, 5))
    figure, _ = client.predict("digits-unet", True, "any", 1.0, *rows, api_name="/compare_curve")
    plot = json.loads(figure["plot"])
    assert plot["layout"]["yaxis"]["type"] == "log" and plot["data"][-1]["name"] == "297 real held-out digits"


def test_quality_curve_and_csv(client, monkeypatch):
    monkeypatch.setattr(curves, "CURVE_STEPS", (2, 5))
    monkeypatch.setattr(curves, "CURVE_POINTS", 100)
    figure, download = client.predict("spiral-mlp", True, "any", 1.0, *ROWS, api_name="/compare_curve")
    traces = json.loads(figure["plot"])["data"]
    assert [t["x"] for t in traces] == [[2, 5], [2, 5], [2, 5]]
    with open(update_value(download)["path"], newline="") as f:
        table = list(csv.reader(f))
    assert table[0][:4] == ["model", "configuration", "steps", "nfe"] and len(table) == 1 + 3 * 2


@pytest.mark.parametrize(
    "settings, rows, message",
    [
        (SETTINGS, ROWS[:5] + [False] + ROWS[6:10] + [False] + ROWS[11:], "compare 2 to 4"),
        (SETTINGS, ROWS[:7] + [2000] + ROWS[8:], "steps must be between 1 and 1000"),
        (SETTINGS, ROWS[:7] + [0] + ROWS[8:], "less than minimum value 1"),
        (SETTINGS, ROWS[:7] + [None] + ROWS[8:], "steps \\(config 2\\) must be a whole number"),
        (["spiral-mlp", 999_999, 0, True, "any", 1.0], ROWS, "greater than maximum value 5000"),
        (["../../etc/passwd", 300, 0, True, "any", 1.0], ROWS, "bad model name"),
        ([None, 300, 0, True, "any", 1.0], ROWS, "choose a model first"),
        (SETTINGS, ROWS[:7] + [7, "tuned"] + ROWS[9:], "has no tuned timesteps for DDIM"),
        (SETTINGS, ROWS[:11] + ["unipc", 7, "tuned"] + ROWS[14:], "exist for 5, 10 steps of UniPC on this"),
        (SETTINGS, ROWS[:8] + ["Tuned"] + ROWS[9:], "'Spacing' expects one of its choices, got 'Tuned'"),
    ],
)
def test_bad_requests_get_clear_messages(client, settings, rows, message):
    with pytest.raises(AppError, match=message):
        client.predict(*settings, 100, False, *rows, api_name="/compare_run")


def row_values(updates: list[dict]) -> list:
    """on_model's (sampler, steps, spacing) values of each row; every row's fourth update is its η slider's."""
    return [u.get("value") for i, u in enumerate(updates) if i % 4 != 3]


def test_picking_a_flow_model_moves_ddpm_and_ddim_rows_to_euler_and_heun(client):
    from explorer.ui.compare_tab import on_model

    _, *updates, button, hint = on_model("spiral-flow", *ROWS)
    assert row_values(updates) == ["euler", 100, "trailing", "heun", 10, "trailing", *[None] * 6]
    assert [updates[i]["interactive"] for i in (3, 7, 11)] == [False, False, False]  # Euler, Heun: no η
    assert button["visible"] is False and hint["value"] == "", "points are scored as they run: no Score button"
    _, *unchanged, button, hint = on_model("spiral-mlp", *ROWS)
    assert all("value" not in u for u in unchanged)
    rows = ROWS[:1] + ["euler", 100, "trailing"] + ROWS[4:6] + ["heun", 10, "trailing"] + ROWS[9:]
    *_, table, info, _ = client.predict(*FLOW, 100, False, *rows, api_name="/compare_run")
    assert "η" not in table["headers"], "no DDIM row: no η column"
    nfe = table["headers"].index("NFE")
    assert [r[0] for r in table["data"]] == ["Euler", "Heun", "DPM-Solver++(2M)"]
    assert [r[nfe] for r in table["data"]] == [100, 19, 10]
    with pytest.raises(AppError, match="variance-preserving process"):
        client.predict(*FLOW, 100, False, *ROWS, api_name="/compare_run")


def test_a_class_and_guidance_scale_steer_every_sampler(client):
    settings = ["patterns-cond", 400, 0, True, "2", 1.0]  # class 2: the circle
    rows = ROWS[:7] + [50] + ROWS[8:]  # DDIM-20 leaves half the circle's samples off the thin curve; 50 steps do not
    *_, table, info, _ = client.predict(*settings, 100, False, *rows, api_name="/compare_run")
    precision = [row[-1] for row in table["data"]]
    assert len(precision) == 3 and min(precision) > 0.85, precision
    assert "class circle, w = 1 for every sampler" in info
    assert table["headers"][-1] == "class prec."
    plain = client.predict("patterns-cond", 400, 0, True, "any", 1.0, 100, False, *ROWS, api_name="/compare_run")[3]
    assert "class prec." not in plain["headers"], "no class asked for: no class precision column"
    with pytest.raises(AppError, match="class label must be between 0 and 3"):
        client.predict("patterns-cond", 400, 0, True, "9", 1.0, 100, False, *ROWS, api_name="/compare_run")


def test_the_tab_opens_on_spiral_ve_and_a_ve_model_moves_leading_spacings_to_trailing():
    """spiral-ve with UniPC-10 on its tuned timesteps meets the few-step targets (benchmarks/fewstep.py),
    so the tab opens on it with that row ticked; a leading spacing would start VE below sigma_max."""
    from explorer.runs.compare import DEFAULT_ROWS
    from explorer.ui.compare_tab import compare_default, on_model

    assert compare_default() == "spiral-ve"
    assert (True, "unipc", 10, "tuned", 0.0) in DEFAULT_ROWS
    rows = [True, "ddpm", 200, "leading", 1.0, True, "ddim", 20, "quadratic", 0.0, *ROWS[10:]]
    _, *updates, _, _ = on_model("spiral-ve", *rows)
    assert row_values(updates) == [None, None, "trailing", None, None, "trailing", *[None] * 6]
    assert updates[7]["interactive"] is True  # the DDIM row's η


def test_a_tuned_row_keeps_its_spacing_where_the_model_has_tuned_timesteps_and_falls_back_elsewhere():
    from explorer.ui.compare_tab import on_model

    rows = [*ROWS[:15], True, "unipc", 10, "tuned", 0.0]
    for model in ("spiral-ve", "spiral-mlp"):
        _, *updates, _, _ = on_model(model, *rows)
        assert all("value" not in u for u in updates), model  # η's updates carry no value either
    _, *updates, _, _ = on_model("digits-unet", *rows)  # not tuned: UniPC's usual log-SNR steps
    assert row_values(updates) == [*[None] * 11, "logsnr"]
    _, *updates, _, _ = on_model("spiral-mlp", *rows[:17], 7, *rows[18:])  # tuned at 5 and 10 steps, not 7
    assert updates[-2]["value"] == "logsnr"
