"""What a newcomer's walk through the app found, each pinned: the Train tab's panels and words, log
axes' labels, the curves on opening, η for DDIM only, the forward histogram at t = 0, D3PM's controls."""

import time
from types import SimpleNamespace

import numpy as np

from explorer.training.trainer import Progress
from explorer.ui import compare_tab, discrete_tab, training_tab
from explorer.viz import figures


def test_a_finished_run_is_named_and_its_metrics_worded_beside_their_floors():
    p = Progress(status="done", step=3500, message="saved /tmp/x/my-spiral at step 3500",
                 metrics={"sliced_wasserstein_ddpm": 0.0229, "sliced_wasserstein_floor": 0.0235,
                          "spiral_distance_ddpm": 0.0022})  # fmt: skip
    text = training_tab.finished_text("my-spiral", p)
    assert "/tmp" not in text and "**my-spiral** is in every tab's model list" in text
    assert "Its samples (DDPM over all T steps)" in text
    assert (
        "sliced Wasserstein distance to fresh data 0.0229 (two fresh data sets of this size differ by 0.0235)" in text
    )
    assert "mean distance to the spiral 0.0022" in text and "_floor" not in text
    digits = Progress(status="done", metrics={"fd_ddpm": 4.1, "fd_floor": 5.3, "memorised_share_ddpm": 0.0},
                      shipped=(2500, 3.9))  # fmt: skip
    text = training_tab.finished_text("d", digits)
    assert "keeps the weights of step 2500" in text and "(FD 3.90)" in text
    assert "Fréchet distance to the training digits 4.10 (real digits score 5.30)" in text
    cancelled = training_tab.finished_text("c", Progress(status="cancelled", step=12))
    assert cancelled.startswith("Cancelled at step 12: the weights so far are saved as **c**")
    assert "in the Discrete tab's model list" in training_tab.finished_text("c", Progress(status="done"), discrete=True)
    failed = Progress(status="failed", message="the loss became nan at step 3")
    assert training_tab.finished_text("f", failed) == failed.message  # failures keep their own words


def test_the_panels_of_another_job_are_emptied_not_kept():
    state = SimpleNamespace(queue=SimpleNamespace(ticket_of=lambda owner: None, running=None,
                                                  jobs_of=lambda owner: [], waiting=lambda: []))  # fmt: skip
    status, loss, preview, image, *_, drawn = training_tab.on_poll(state, None, SimpleNamespace(session_hash="new"))
    assert status.startswith("No job yet")
    assert "Press Start" in loss.plot and preview["visible"] and image == {"value": None, "visible": False,
                                                                            "__type__": "update"}  # fmt: skip
    again = training_tab.on_poll(state, None, SimpleNamespace(session_hash="new"), drawn)
    assert [again[i]["__type__"] for i in (1, 2, 3)] == ["update"] * 3 and len(again[1]) == 1  # skipped: unchanged


def test_log_axes_label_one_two_five_or_decades_as_plain_numbers():
    nfe = figures.log_ticks([5, 10, 20, 50, 100, 200, 500, 1000])
    assert nfe["ticktext"] == ["5", "10", "20", "50", "100", "200", "500", "1000"]
    wide = figures.log_ticks([1e-6, 3e-2])
    assert wide["ticktext"] == ["1e-06", "1e-05", "0.0001", "0.001", "0.01"]  # decades only, no "µ"
    assert figures.log_ticks([0.0, -1.0, float("nan")]) == {}


def test_the_timesteps_plot_puts_its_t_axis_under_the_rug_rows():
    fig = figures.timesteps_figure(np.linspace(5, -5, 100), {"a": [100, 50, 1], "b": [100, 10]})
    assert fig["layout"]["xaxis"]["anchor"] == "y2" and fig["layout"]["yaxis2"]["domain"][0] == 0.0


def test_opening_the_curves_draws_the_shipped_ones_at_once_and_never_samples(monkeypatch):
    from explorer.runs import curves

    monkeypatch.setattr(curves, "draw_samples", lambda *a, **k: (_ for _ in ()).throw(AssertionError("sampled")))
    rows = [value for row in compare_tab.DEFAULT_ROWS for value in row]
    plot, csv = compare_tab.on_curves_shown("spiral-mlp", True, None, 1.0, *rows)
    assert "model evaluations" in plot.plot and csv["visible"]  # every default row ships its curve
    rows[1], rows[2], rows[3] = "heun", 7, "karras"  # a curve nobody made: say so, do not compute it
    plot, csv = compare_tab.on_curves_shown("spiral-mlp", True, None, 1.0, *rows)
    assert "3 of 4 enabled samplers' curves are ready" in plot.plot and not csv["visible"]


def test_eta_is_set_only_for_ddim():
    assert compare_tab.eta_update("ddim")["interactive"] is True
    assert compare_tab.eta_update("ddpm") == {"interactive": False, "label": "η (DDIM only)", "__type__": "update"}
    assert compare_tab.on_sampler("unipc")[2]["interactive"] is False


def test_the_forward_histogram_at_t_0_is_the_data_not_a_flat_zero():
    from explorer.runs.forward import ForwardProcess, ForwardSettings

    process = ForwardProcess(ForwardSettings())
    axes, densities, exact = process.histograms([0, 500])
    assert exact[0].max() > 0.3 and np.isclose(exact[0].max(), densities[0].max(), rtol=1e-5)
    bins = np.clip(np.searchsorted(axes.edges, axes.grid, side="right") - 1, 0, len(densities[0]) - 1)
    assert np.allclose(exact[0], densities[0][bins], atol=1e-5)  # each grid point reads its bin's height
    assert exact[1].min() > 0  # t > 0: the closed-form mixture, positive everywhere


def test_d3pm_shows_only_the_chosen_datas_controls():
    visible = {data: [u["visible"] for u in discrete_tab.data_controls(data)] for data in ("digits", "text", "image")}
    assert visible == {"digits": [True, False, False, False], "text": [False, False, True, False],
                       "image": [False, True, False, True]}  # fmt: skip


def test_the_cancel_picker_names_ones_latest_job_and_the_status_follows_the_live_one(tmp_path, monkeypatch):
    from explorer.serve.state import make_state
    from explorer.training.config import TrainConfig
    from explorer.training.job import TrainingJob

    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path))
    state, me = make_state(TrainingJob), SimpleNamespace(session_hash="me")
    small = dict(dataset="spiral", width=16, depth=1, T=50, batch=64, n_data=500, checkpoint_every=10_000)
    first = state.queue.submit(TrainConfig(**small, steps=100_000), "first", False, owner="me")
    state.queue.submit(TrainConfig(**small, steps=10), "second", False, owner="me")
    assert training_tab.jobs_table(state, "me")[1]["value"] == "second"  # the one just started, not the running one
    assert training_tab.jobs_table(state, "me", "first")[1]["value"] == "first"  # unless one picked it
    state.queue.cancel("me", "second")
    deadline = time.monotonic() + 60
    while first.job.snapshot().status != "running":  # its thread has started
        assert time.monotonic() < deadline
        time.sleep(0.01)
    status = training_tab.on_poll(state, None, me)[0]
    assert status.startswith("**first** · running")  # the live job, not the cancelled one
    state.queue.cancel("me", "first")
    assert first.done.wait(60)
    assert training_tab.on_poll(state, None, me)[0].startswith("**first** · cancelled")  # the last that trained


def test_a_finished_jobs_panels_are_sent_once_not_every_poll(tmp_path, monkeypatch):
    from explorer.serve.state import make_state
    from explorer.training.config import TrainConfig
    from explorer.training.job import TrainingJob

    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path))
    state, me = make_state(TrainingJob), SimpleNamespace(session_hash="me")
    small = dict(dataset="spiral", width=16, depth=1, T=50, batch=64, n_data=500, checkpoint_every=10_000)
    ticket = state.queue.submit(TrainConfig(**small, steps=10), "quick", False, owner="me")
    assert ticket.done.wait(60)
    first = training_tab.on_poll(state, None, me)
    assert (
        "Training loss" in first[1].plot and first[-1] == "quick | done | 0"
    )  # no preview: a bare TrainingJob draws none
    second = training_tab.on_poll(state, None, me, first[-1])
    assert second[0] == first[0] and second[1] == {"__type__": "update"}  # the same status, the figure not re-sent


def test_choosing_the_image_set_empties_the_texts_panels_until_an_upload():
    outputs = discrete_tab.on_setting("image", "absorbing", 100, 4, 16, 0, "a sentence", None, 50)
    _, sample, sentence, heat, bars, curve, note = outputs
    assert sample == {"value": None, "visible": True, "__type__": "update"} and sentence["visible"] is False
    assert heat["value"] is None and bars["value"] is None and curve["value"] is None
    assert note.startswith("Upload an image (left)")


def test_interpolation_paths_take_the_colours_of_the_norm_plot_beside_them():
    paths = {"slerp": np.zeros((5, 2)), "lerp": np.ones((5, 2))}
    fig = figures.interpolation_figure(np.zeros((3, 2)), paths, 2.0, "t")
    norms = figures.log_curves_figure({"slerp": ([0, 1], [1, 1]), "lerp": ([0, 1], [1, 0.7])}, "n", "a", "b")
    by_name = {t["name"]: t["line"]["color"] for t in fig["data"] if t.get("name") in paths}
    assert by_name == {t["name"]: t["line"]["color"] for t in norms["data"]}


def test_a_redrawn_curves_table_is_written_once(tmp_path, monkeypatch):
    """The curves follow every row edit: the same table gives the same file, not a new one each time."""
    from explorer.ui import common

    monkeypatch.setattr(common, "OUTPUT_DIR", tmp_path)
    first, again = (
        common.output_file("quality-vs-nfe", ".csv", "a,b\n1,2\n"),
        common.output_file("quality-vs-nfe", ".csv", "a,b\n1,2\n"),
    )
    other = common.output_file("quality-vs-nfe", ".csv", "a,b\n1,3\n")
    assert first == again != other and first.read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])


def test_a_sweeps_precision_is_captioned_on_its_finished_frame_only():
    from explorer.viz.panels import sweep_caption

    sweep = SimpleNamespace(steps=[1000, 500, 0], precision={0.0: 0.27, 4.0: 0.65})
    assert [sweep_caption(sweep, 4.0, i) for i in range(3)] == ["w = 4  t = 1000", "w = 4  t = 500",
                                                                "w = 4  t = 0  precision 0.65"]  # fmt: skip
