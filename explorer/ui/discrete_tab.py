"""The Discrete (D3PM) tab: categorical corruption of digits, a sentence or an image.

Layout and wiring only; every number comes from explorer.discrete.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from explorer import d3pm, discrete, render
from explorer.limits import MAX_GIF_FPS, MAX_GIF_FRAMES, MAX_GIF_SIZE, MAX_IMAGES, MIN_GIF_SIZE, check_int
from explorer.ui.common import (
    gif_outputs,
    gif_result,
    gpu_call,
    new_output_path,
    plot_value,
    sampling_queue,
    user_errors,
)

PANEL = 360
TRANSITION_CHOICES = [("uniform (random replacement)", "uniform"), ("absorbing ([MASK])", "absorbing"),
                      ("discretized Gaussian (ordinal)", "gaussian")]  # fmt: skip


def make_settings(dataset, transition, T, K, n, seed, text, image) -> discrete.CorruptionSettings:
    seed = 0 if seed is None else seed
    return discrete.CorruptionSettings(dataset=dataset, transition=transition, T=T, K=K, n=n, seed=seed,
                                       text=text or "", image_path=image or None)  # fmt: skip


def view(settings: discrete.CorruptionSettings, t: Any) -> tuple[Any, ...]:
    c = discrete.corruption(settings)
    t = check_int("t", min(max(0 if t is None else t, 0), c.process.T), 0, c.process.T)  # clamped; NaN refused
    text = settings.dataset == "text"
    labels = discrete.state_labels(c.process, text)
    x = c.at(t)
    if text:
        sample = gr.update(visible=False), gr.update(value=f"### `{discrete.decode_text(x)}`", visible=True)
    else:
        frame = discrete.corruption_frame(c, t, PANEL)
        sample = gr.update(value=frame, visible=True), gr.update(visible=False)
    matrix = c.process.Qbar[t - 1].numpy() if t > 0 else np.eye(c.process.states)
    heat = render.heatmap_figure(matrix, labels, f"Q̄_t at t = {t}: row = x_0, column = x_t")
    empirical, exact, limit, distance = c.categories(t)
    bars = render.bars_figure(labels, {"this sample": empirical, "exact q(x_t)": exact, "stationary": limit},
                              f"Categories at t = {t}")  # fmt: skip
    curve = render.curves_figure(np.arange(1, c.process.T + 1), {"total variation to stationary": c.distance.numpy()},
                                 "How far q(x_t) still is from the limit", "t", "distance",
                                 marker_x=t)  # fmt: skip
    info = (f"**t = {t} of {c.process.T}** · {c.process.transition}, {c.process.states} states · total variation "
            f"to the stationary distribution {distance:.3f}")  # fmt: skip
    return (*sample, plot_value(heat), plot_value(bars), plot_value(curve), info)


@user_errors
def on_view(dataset, transition, T, K, n, seed, text, image, t) -> tuple[Any, ...]:
    settings = make_settings(dataset, transition, T, K, n, seed, text, image)
    c = discrete.corruption(settings)
    return (gr.update(maximum=c.process.T), *view(settings, t))


@user_errors
def on_step(dataset, transition, T, K, n, seed, text, image, t) -> tuple[Any, ...]:
    return view(make_settings(dataset, transition, T, K, n, seed, text, image), t)


@user_errors
def on_export(dataset, transition, T, K, n, seed, text, image, n_frames, fps, size) -> tuple[str, Any]:
    settings = make_settings(dataset, transition, T, K, n, seed, text, image)
    return gif_result(discrete.corruption_gif(settings, n_frames, fps, size, new_output_path("d3pm", ".gif")))


def discrete_settings(model, n, steps, seed) -> d3pm.DiscreteSettings:
    if not model:
        raise ValueError("choose a discrete model (train one in the Train tab with a D3PM corruption)")
    return d3pm.DiscreteSettings(model, n, steps, 0 if seed is None else seed)


def reverse_view(run: d3pm.DiscreteRun, i: Any) -> tuple[Any, str]:
    i = int(min(max(0 if i is None else i, 0), len(run.xs) - 1))
    t = run.ts[i]
    text = (f"**t = {t} of {run.process.T}** · {run.process.transition} model · {len(run.xs) - 1} reverse steps "
            f"(model calls) · digits classifier on the final samples: confidence {run.confidence:.3f}, "
            f"reads {' '.join(map(str, run.digits))}")  # fmt: skip
    return d3pm.reverse_frame(run, i, PANEL), text


@user_errors
def on_sample(model, n, steps, seed) -> tuple[Any, ...]:
    run = d3pm.run_discrete(discrete_settings(model, n, steps, seed))
    last = len(run.xs) - 1
    return (gr.update(maximum=last, value=last), *reverse_view(run, last))


@user_errors
def on_reverse_step(model, n, steps, seed, i) -> tuple[Any, ...]:
    return reverse_view(d3pm.run_discrete(discrete_settings(model, n, steps, seed)), i)


@user_errors
def on_reverse_export(model, n, steps, seed, n_frames, fps, size) -> tuple[str, Any]:
    settings = discrete_settings(model, n, steps, seed)
    return gif_result(d3pm.reverse_gif(settings, n_frames, fps, size, new_output_path("d3pm-reverse", ".gif")))


def on_refresh(current: str | None) -> Any:
    names = d3pm.discrete_models()
    return gr.update(choices=names, value=current if current in names else (names[0] if names else None))


def on_discrete_model(model: str | None) -> Any:
    """The steps slider reaches the chosen model's T."""
    try:
        return gr.update(maximum=d3pm.load_discrete(model)[1].T) if model else gr.update()
    except ValueError:
        return gr.update()  # an unknown name is reported when Generate is pressed


def gif_controls(prefix: str) -> tuple[Any, Any, Any]:
    with gr.Row():
        n_frames = gr.Slider(2, MAX_GIF_FRAMES, 30, step=1, label="Frames", elem_id=f"{prefix}-gif-frames")
        fps = gr.Slider(1, MAX_GIF_FPS, 10, step=1, label="Frames per second")
        size = gr.Slider(MIN_GIF_SIZE, MAX_GIF_SIZE // 2, 320, step=16, label="Size (px)")
    return n_frames, fps, size


def build_reverse() -> None:
    """The reverse half: a trained discrete model generating digits, x_t beside its x0 guess."""
    gr.Markdown(
        "### Generation with a trained discrete model\n"
        "The network reads x_t and predicts p(x_0 | x_t) at every pixel; each reverse step draws x_s from "
        "the sum over x_0 of q(x_s, x_t | x_0) p(x_0 | x_t) (Austin et al. eq. 4), skipping with Q_{s→t} when "
        "fewer steps than T are asked for. Train your own in the **Train** tab (choose a D3PM corruption)."
    )
    names = d3pm.discrete_models()
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            with gr.Row():
                model = gr.Dropdown(names, value=names[0] if names else None, label="Discrete model",
                                    elem_id="d3r-model", scale=4, allow_custom_value=True)  # fmt: skip
                refresh = gr.Button("↻", scale=1, min_width=40, elem_id="d3r-refresh")
            n = gr.Slider(1, MAX_IMAGES, 16, step=1, label="Digits", elem_id="d3r-n")
            steps = gr.Slider(1, 1000, 100, step=1, label="Reverse steps (model calls, up to the model's T)",
                              elem_id="d3r-steps")  # fmt: skip
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="d3r-seed")
            sample = gr.Button("Generate", variant="primary", elem_id="d3r-sample")
        with gr.Column(scale=3):
            step = gr.Slider(0, 100, 0, step=1, label="reverse step (0: x_T)", elem_id="d3r-step")
            info = gr.Markdown(elem_id="d3r-info")
            frame = gr.Image(label="x_t and the model's x_0 guess", format="png", elem_id="d3r-frame")
            with gr.Accordion("Export GIF of the reverse process", open=False):
                n_frames, fps, size = gif_controls("d3r")
                export, gif, download = gif_outputs("d3r", "Reverse process")
    settings = [model, n, steps, seed]
    refresh.click(on_refresh, model, model, api_visibility="private")
    model.change(on_discrete_model, model, steps, api_visibility="private")
    sample.click(gpu_call(on_sample), settings, [step, frame, info], api_name="d3pm_sample", **sampling_queue())
    step.input(on_reverse_step, [*settings, step], [frame, info], api_name="d3pm_reverse_step",
               show_progress="hidden", trigger_mode="always_last")  # fmt: skip
    export.click(
        gpu_call(on_reverse_export),
        [*settings, n_frames, fps, size],
        [gif, download],
        api_name="d3pm_reverse_gif",
        **sampling_queue(),
    )


def build() -> dict:
    gr.Markdown(
        "Diffusion need not be Gaussian. In D3PM (Austin et al. 2021) every pixel or character is a category and "
        "corruption is a Markov chain with transition matrices Q_t: q(x_t | x_0) = Cat(x_0 Q̄_t). Uniform "
        "corruption replaces symbols at random, absorbing corruption masks them, and the discretized Gaussian "
        "moves grey levels to nearby ones."
    )
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            dataset = gr.Radio(list(discrete.DATASETS), value="digits", label="Data", elem_id="d3-dataset")
            transition = gr.Radio(TRANSITION_CHOICES, value="absorbing", label="Transition", elem_id="d3-transition")
            T = gr.Slider(2, 1000, 100, step=1, label="T", elem_id="d3-T")
            n = gr.Slider(1, MAX_IMAGES, 16, step=1, label="Digits", elem_id="d3-n")
            K = gr.Slider(discrete.MIN_CATEGORIES, 32, 4, step=1, label="Image: levels K", elem_id="d3-K")
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="d3-seed")
            text = gr.Textbox(discrete.DEFAULT_TEXT, label="Text: a sentence", elem_id="d3-text")
            image = gr.Image(type="filepath", label="Image: upload", height=140, elem_id="d3-image")
            show = gr.Button("Show", variant="primary", elem_id="d3-show")
        with gr.Column(scale=3):
            t = gr.Slider(0, 100, 50, step=1, label="t", elem_id="d3-t")
            info = gr.Markdown(elem_id="d3-info")
            with gr.Row():
                sample = gr.Image(label="x_t", show_label=False, format="png", elem_id="d3-sample")
                sentence = gr.Markdown(visible=False, elem_id="d3-sentence")
                heat = gr.Plot(label="Q̄_t", elem_id="d3-heat")
            with gr.Row():
                bars = gr.Plot(label="categories", elem_id="d3-bars")
                curve = gr.Plot(label="distance", elem_id="d3-curve")
            with gr.Accordion("Export GIF", open=False):
                n_frames, fps, size = gif_controls("d3")
                export, gif, download = gif_outputs("d3", "Corruption")
    settings = [dataset, transition, T, K, n, seed, text, image]
    outputs = [sample, sentence, heat, bars, curve, info]
    show.click(on_view, [*settings, t], [t, *outputs], api_name="d3pm_view")
    t.input(on_step, [*settings, t], outputs, api_name="d3pm_step", show_progress="hidden",
            trigger_mode="always_last")  # fmt: skip
    export.click(
        gpu_call(on_export), [*settings, n_frames, fps, size], [gif, download], api_name="d3pm_gif", **sampling_queue()
    )
    build_reverse()
    return dict(fn=on_view, inputs=[*settings, t], outputs=[t, *outputs])
