"""The Guidance tab: one class-conditional model sampled at several guidance scales from one x_T.

Layout and wiring only; every number comes from explorer.guidance.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from explorer.core.guidance import conditioning
from explorer.limits import MAX_GIF_FPS, MAX_GIF_SIZE, MAX_POINTS, MIN_GIF_SIZE, clamped_index
from explorer.runs.guidance import MAX_SWEEP_FRAMES, Sweep, SweepSettings, run_sweep
from explorer.runs.store import RunKey
from explorer.serve.state import AppState
from explorer.store.registry import conditional_models, model_classes
from explorer.ui.common import (
    CONTROLS,
    bind,
    export_outputs,
    export_result,
    gpu_call,
    new_output_path,
    picture,
    plot_value,
    result_plot,
    sampling_queue,
    user_errors,
)
from explorer.ui.conditioning import class_choices as picker_choices
from explorer.ui.player import player
from explorer.ui.reverse_tab import count_slider, model_kind
from explorer.viz import figures
from explorer.viz.animations import sweep_gif
from explorer.viz.export import export_suffix
from explorer.viz.panels import sweep_frame
from explorer.viz.playback import sweep_payload

PANEL = 240

DEFAULT_MODEL = "patterns-cond"


def class_choices(model: str | None) -> list[tuple[str, str]]:
    """The sweep always steers to a class: no "any" choice."""
    return picker_choices(model_classes(model), unconditional=False)


def settings_of(model, label, n, steps, seed) -> SweepSettings:
    if not model:
        raise ValueError("choose a class-conditional model (train one with --conditional)")
    label = conditioning(label, None).label  # the picker's "2" (or an API's 2) as a class index
    if label is None:
        raise ValueError("choose the class to steer towards")
    return SweepSettings(model, label, n, 0 if seed is None else seed, steps)


def view(sweep: Sweep, i: Any) -> tuple[Any, str]:
    i = clamped_index("the sampling step", i, len(sweep.steps))
    name = sweep.classes[sweep.settings.label] if sweep.classes else str(sweep.settings.label)
    cells = " · ".join(f"w = {w:g}: precision {sweep.precision[w]:.2f}, diversity {sweep.diversity[w]:.2f}"
                       for w in sweep.frames)  # fmt: skip
    measure = (
        "recall: the share of the class's real digits near a sample, in the evaluator's features"
        if sweep.dataset == "digits"
        else "coverage"
    )
    text = f"**class {name}**, t = {sweep.steps[i]} · {cells} (diversity: {measure})"
    return sweep_frame(sweep, i, PANEL), text


def record(state: AppState, model, label, n, steps, seed) -> tuple[RunKey, Sweep]:
    """Sample every scale (or reuse the recorded sweep of the same settings and weights): heavy endpoints only."""
    settings = settings_of(model, label, n, steps, seed)
    return state.record("guidance", settings, lambda: run_sweep(settings))


@user_errors
def on_sweep(state: AppState, model, label, n, steps, seed) -> tuple[Any, ...]:
    key, sweep = record(state, model, label, n, steps, seed)
    last = len(sweep.steps) - 1
    scales = np.array(list(sweep.frames))
    fig = figures.curves_figure(scales, {"precision": np.array(list(sweep.precision.values())),
                                        "diversity": np.array(list(sweep.diversity.values()))},
                               "The quality / diversity trade-off", "guidance scale w", "share")  # fmt: skip
    return (key, sweep_payload(sweep), gr.update(maximum=last, value=last), *view(sweep, last), plot_value(fig))


@user_errors
def on_frame(state: AppState, key: RunKey | None, i: float) -> tuple[Any, ...]:
    """A recorded frame of the sweep (never samples)."""
    return view(state.runs.require(key), i)


@user_errors
def on_export(state: AppState, model, label, n, steps, seed, fps, size, fmt) -> tuple[Any, ...]:
    _, sweep = record(state, model, label, n, steps, seed)
    return export_result(sweep_gif(sweep, size, fps, new_output_path("guidance", export_suffix(fmt))))


def on_model(model: str | None) -> tuple[Any, Any]:
    """The model's classes, and a sample count its kind allows (up to 64 images)."""
    choices = class_choices(model)
    return gr.update(choices=choices, value=choices[0][1] if choices else None), count_slider(
        model_kind(model), MAX_POINTS
    )


def build(state: AppState) -> None:
    gr.Markdown(
        "Classifier-free guidance (Ho & Salimans 2022): one model, trained with a share of its labels dropped, "
        "predicts both ε(x_t, y) and ε(x_t, ∅); sampling uses ε(x_t, ∅) + w (ε(x_t, y) − ε(x_t, ∅)). Here every "
        "w in {0, 1, 2, 4, 8} starts from the same x_T (DDIM, η = 0). Precision is the share of samples the "
        "reference classifier assigns to the asked class; diversity is how much of the class they cover."
    )
    names = conditional_models()
    first = DEFAULT_MODEL if DEFAULT_MODEL in names else names[0] if names else None  # points: quick first click
    with gr.Row():
        with gr.Column(**CONTROLS):
            model = gr.Dropdown(names, value=first, label="Conditional model", elem_id="cfg-model",
                                allow_custom_value=True)  # fmt: skip
            choices = class_choices(first)
            label = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Class",
                                elem_id="cfg-label", allow_custom_value=True)  # fmt: skip
            n = gr.Slider(1, MAX_POINTS, 1000, step=1, label="Samples (images: up to 64)", elem_id="cfg-n")
            steps = gr.Slider(2, 200, 50, step=1, label="DDIM steps", elem_id="cfg-steps")
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="cfg-seed")
            run = gr.Button("Sweep w", variant="primary", elem_id="cfg-run")
        with gr.Column(scale=3):
            gr.Markdown("**Play the sweep in your browser**: every w from the same x_T, one clock for all.")
            playback = player("cfg-player", "Guidance sweep", "Sweep w")
            frame_i = gr.Slider(0, MAX_SWEEP_FRAMES - 1, 0, step=1, label="reverse step", elem_id="cfg-frame")
            info = gr.Markdown(elem_id="cfg-info")
            samples = picture(label="samples by guidance scale", elem_id="cfg-picture")
            readings = result_plot(
                "precision and diversity against the guidance scale", "cfg-plot", "Press Sweep w", 300
            )
            with gr.Accordion("Export (GIF or MP4)", open=False):
                with gr.Row():
                    fps = gr.Slider(1, MAX_GIF_FPS, 8, step=1, label="Frames per second")
                    size = gr.Slider(MIN_GIF_SIZE, MAX_GIF_SIZE // 4, 160, step=16, label="Panel size (px)")
                export, fmt, exported = export_outputs("cfg", "Guidance sweep")
    settings = [model, label, n, steps, seed]
    model.change(on_model, model, [label, n], api_visibility="private")
    run_key = gr.State(None)  # this session's recorded sweep, by its key in state.runs
    run.click(gpu_call(bind(on_sweep, state)), settings, [run_key, playback, frame_i, samples, info, readings],
              api_name="guidance_sweep", **sampling_queue())  # fmt: skip
    frame_i.input(bind(on_frame, state), [run_key, frame_i], [samples, info], api_name="guidance_frame",
                  show_progress="hidden", trigger_mode="always_last")  # fmt: skip
    export.click(gpu_call(bind(on_export, state)), [*settings, fps, size, fmt], exported, api_name="guidance_gif",
                 **sampling_queue())  # fmt: skip
