"""The Discrete (D3PM) tab: categorical corruption of digits, a sentence or an image.

Layout and wiring only; every number comes from explorer.discrete.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from explorer.core.discrete.process import MIN_CATEGORIES
from explorer.data.text import DEFAULT_TEXT, decode_text
from explorer.limits import (
    MAX_GIF_FPS,
    MAX_GIF_FRAMES,
    MAX_GIF_SIZE,
    MAX_IMAGES,
    MIN_GIF_SIZE,
    check_int,
    clamped_index,
)
from explorer.runs.corruption import CORRUPTION_DATASETS, CorruptionSettings, corruption
from explorer.runs.discrete import DiscreteRun, DiscreteSettings, run_discrete
from explorer.runs.evaluate import EvaluateSettings, score_images
from explorer.runs.store import RunKey
from explorer.sampling.registry import SamplerSettings
from explorer.serve.state import AppState
from explorer.store.registry import discrete_models, load_discrete
from explorer.ui.common import (
    CONTROLS,
    bind,
    export_outputs,
    export_result,
    gpu_call,
    new_output_path,
    picture,
    plot_value,
    sampling_queue,
    user_errors,
)
from explorer.ui.player import player
from explorer.ui.scoring import score_controls, score_markdown
from explorer.viz import figures
from explorer.viz.animations import corruption_gif, discrete_gif
from explorer.viz.export import export_suffix
from explorer.viz.panels import corruption_frame, discrete_frame, state_labels
from explorer.viz.playback import discrete_payload

PANEL = 360
TRANSITION_CHOICES = [("uniform (random replacement)", "uniform"), ("absorbing ([MASK])", "absorbing"),
                      ("discretized Gaussian (ordinal)", "gaussian")]  # fmt: skip


def make_settings(dataset, transition, T, K, n, seed, text, image) -> CorruptionSettings:
    seed = 0 if seed is None else seed
    return CorruptionSettings(dataset=dataset, transition=transition, T=T, K=K, n=n, seed=seed,
                                       text=text or "", image_path=image or None)  # fmt: skip


def view(settings: CorruptionSettings, t: Any) -> tuple[Any, ...]:
    c = corruption(settings)
    t = check_int("t", min(max(0 if t is None else t, 0), c.process.T), 0, c.process.T)  # clamped; NaN refused
    text = settings.dataset == "text"
    labels = state_labels(c.process, text)
    x = c.at(t)
    if text:
        sample = gr.update(visible=False), gr.update(value=f"### `{decode_text(x)}`", visible=True)
    else:
        frame = corruption_frame(c, t, PANEL)
        sample = gr.update(value=frame, visible=True), gr.update(visible=False)
    matrix = c.process.Qbar[t - 1].numpy() if t > 0 else np.eye(c.process.states)
    heat = figures.heatmap_figure(matrix, labels, f"Q̄_t at t = {t}: row = x_0, column = x_t")
    empirical, exact, limit, distance = c.categories(t)
    bars = figures.bars_figure(labels, {"this sample": empirical, "exact q(x_t)": exact, "stationary": limit},
                              f"Categories at t = {t}")  # fmt: skip
    curve = figures.curves_figure(np.arange(1, c.process.T + 1), {"total variation to stationary": c.distance.numpy()},
                                 "How far q(x_t) still is from the limit", "t", "distance",
                                 marker_x=t)  # fmt: skip
    info = (f"**t = {t} of {c.process.T}** · {c.process.transition}, {c.process.states} states · total variation "
            f"to the stationary distribution {distance:.3f}")  # fmt: skip
    return (*sample, plot_value(heat), plot_value(bars), plot_value(curve), info)


@user_errors
def on_view(dataset, transition, T, K, n, seed, text, image, t) -> tuple[Any, ...]:
    settings = make_settings(dataset, transition, T, K, n, seed, text, image)
    c = corruption(settings)
    return (gr.update(maximum=c.process.T), *view(settings, t))


def data_controls(dataset: str) -> tuple[Any, ...]:
    """Only the controls of the chosen data show: how many digits, the sentence, or the image and its K."""
    return (gr.update(visible=dataset == "digits"), gr.update(visible=dataset == "image"),
            gr.update(visible=dataset == "text"), gr.update(visible=dataset == "image"))  # fmt: skip


@user_errors
def on_setting(dataset, transition, T, K, n, seed, text, image, t) -> tuple[Any, ...]:
    """Redraw when any setting changes (the view never shows one transition under another's name);
    the image set waits for an upload instead of answering with an error."""
    if dataset == "image" and not image:
        note = "Upload an image (left) to see it corrupted; it is quantised to K grey levels."
        # the previous data's sentence and plots must not stay under the note (one update each: Gradio
        # consumes an update's value as it applies it, so a shared one empties only the first plot)
        empty = [gr.update(value=None) for _ in range(3)]
        return (gr.skip(), gr.update(value=None, visible=True), gr.update(visible=False), *empty, note)
    t = min(t or 0, T or 0)  # a shorter T clamps the current t
    return on_view(dataset, transition, T, K, n, seed, text, image, t)


@user_errors
def on_step(dataset, transition, T, K, n, seed, text, image, t) -> tuple[Any, ...]:
    return view(make_settings(dataset, transition, T, K, n, seed, text, image), t)


@user_errors
def on_export(dataset, transition, T, K, n, seed, text, image, n_frames, fps, size, fmt) -> tuple[Any, ...]:
    settings = make_settings(dataset, transition, T, K, n, seed, text, image)
    return export_result(corruption_gif(settings, n_frames, fps, size, new_output_path("d3pm", export_suffix(fmt))))


def discrete_settings(model, n, steps, seed) -> DiscreteSettings:
    if not model:
        raise ValueError("choose a discrete model (train one in the Train tab with a D3PM corruption)")
    return DiscreteSettings(model, n, steps, 0 if seed is None else seed)


def reverse_view(run: DiscreteRun, i: Any) -> tuple[Any, str]:
    i = clamped_index("the reverse step", i, len(run.xs))
    t = run.ts[i]
    text = (f"**t = {t} of {run.process.T}** · {run.process.transition} model · {len(run.xs) - 1} reverse steps "
            f"(model calls) · the digits classifier reads the final samples as "
            f"{' '.join(map(str, run.digits))}")  # fmt: skip
    return discrete_frame(run, i, PANEL), text


def record(state: AppState, model, n, steps, seed) -> tuple[RunKey, DiscreteRun]:
    """Generate (or reuse the recorded run of the same settings and weights): heavy endpoints only."""
    settings = discrete_settings(model, n, steps, seed)
    return state.record("discrete", settings, lambda: run_discrete(settings))


@user_errors
def on_score(model, n, steps, seed) -> str:
    """FD, precision and recall of FD_N digits generated as Generate does (same steps and seed)."""
    settings = discrete_settings(model, n, steps, seed)
    sampler = SamplerSettings(steps=settings.steps)  # a D3PM evaluation reads only the step count
    return score_markdown(score_images(EvaluateSettings(settings.model, 0, settings.seed, sampler)))


@user_errors
def on_sample(state: AppState, model, n, steps, seed) -> tuple[Any, ...]:
    key, run = record(state, model, n, steps, seed)
    last = len(run.xs) - 1
    return (key, discrete_payload(run), gr.update(maximum=last, value=last), *reverse_view(run, last))


@user_errors
def on_reverse_step(state: AppState, key: RunKey | None, i: float) -> tuple[Any, ...]:
    """A recorded reverse step (never samples)."""
    return reverse_view(state.runs.require(key), i)


@user_errors
def on_reverse_export(state: AppState, model, n, steps, seed, n_frames, fps, size, fmt) -> tuple[Any, ...]:
    _, run = record(state, model, n, steps, seed)
    return export_result(discrete_gif(run, n_frames, fps, size, new_output_path("d3pm-reverse", export_suffix(fmt))))


def on_refresh(current: str | None) -> Any:
    names = discrete_models()
    return gr.update(choices=names, value=current if current in names else (names[0] if names else None))


def on_discrete_model(model: str | None) -> Any:
    """The steps slider reaches the chosen model's T."""
    try:
        return gr.update(maximum=load_discrete(model)[1].T) if model else gr.update()
    except ValueError:
        return gr.update()  # an unknown name is reported when Generate is pressed


def gif_controls(prefix: str) -> tuple[Any, Any, Any]:
    with gr.Row():
        n_frames = gr.Slider(2, MAX_GIF_FRAMES, 30, step=1, label="Frames", elem_id=f"{prefix}-gif-frames")
        fps = gr.Slider(1, MAX_GIF_FPS, 10, step=1, label="Frames per second")
        size = gr.Slider(MIN_GIF_SIZE, MAX_GIF_SIZE // 2, 320, step=16, label="Size (px)")
    return n_frames, fps, size


def build_reverse(state: AppState) -> None:
    """The reverse half: a trained discrete model generating digits, x_t beside its x0 guess."""
    gr.Markdown(
        "### Generation with a trained discrete model\n"
        "The network reads x_t and predicts p(x_0 | x_t) at every pixel; each reverse step draws x_s from "
        "the sum over x_0 of q(x_s, x_t | x_0) p(x_0 | x_t) (Austin et al. eq. 4), skipping with Q_{s→t} when "
        "fewer steps than T are asked for. Train your own in the **Train** tab (choose a D3PM corruption)."
    )
    names = discrete_models()
    with gr.Row():
        with gr.Column(**CONTROLS):
            with gr.Row():
                model = gr.Dropdown(names, value=names[0] if names else None, label="Discrete model",
                                    elem_id="d3r-model", scale=4, allow_custom_value=True)  # fmt: skip
                refresh = gr.Button(
                    "↻ list", scale=1, min_width=64, elem_id="d3r-refresh", elem_classes=["refresh-models"]
                )  # re-reads the models (one trained just now)
            n = gr.Slider(1, MAX_IMAGES, 16, step=1, label="Digits", elem_id="d3r-n")
            steps = gr.Slider(1, 1000, 100, step=1, label="Reverse steps (model calls, up to the model's T)",
                              elem_id="d3r-steps")  # fmt: skip
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="d3r-seed")
            sample = gr.Button("Generate", variant="primary", elem_id="d3r-sample")
            score, score_info = score_controls("d3r", True)
        with gr.Column(scale=3):
            playback = player("d3r-player", "Reverse process", "Generate")
            step = gr.Slider(0, 100, 0, step=1, label="Reverse step k of the run (0: x_T at t = T; the last: the "
                             "samples at t = 0)", elem_id="d3r-step")  # fmt: skip
            info = gr.Markdown(elem_id="d3r-info")
            frame = picture(label="x_t and the model's x_0 guess", elem_id="d3r-frame")
            with gr.Accordion("Export the reverse process (GIF or MP4)", open=False):
                n_frames, fps, size = gif_controls("d3r")
                export, fmt, exported = export_outputs("d3r", "Reverse process")
    settings = [model, n, steps, seed]
    refresh.click(on_refresh, model, model, api_visibility="private")
    model.change(on_discrete_model, model, steps, api_visibility="private")
    run_key = gr.State(None)  # this session's recorded generation, by its key in state.runs
    sample.click(gpu_call(bind(on_sample, state)), settings, [run_key, playback, step, frame, info],
                 api_name="d3pm_sample", **sampling_queue())  # fmt: skip
    score.click(gpu_call(on_score), settings, score_info, api_name="d3pm_score", **sampling_queue())
    step.input(bind(on_reverse_step, state), [run_key, step], [frame, info], api_name="d3pm_reverse_step",
               show_progress="hidden", trigger_mode="always_last")  # fmt: skip
    export.click(
        gpu_call(bind(on_reverse_export, state)),
        [*settings, n_frames, fps, size, fmt],
        exported,
        api_name="d3pm_reverse_gif",
        **sampling_queue(),
    )


def build(state: AppState) -> dict:
    gr.Markdown(
        "Diffusion need not be Gaussian. In D3PM (Austin et al. 2021) every pixel or character is a category and "
        "corruption is a Markov chain with transition matrices Q_t: q(x_t | x_0) = Cat(x_0 Q̄_t). Uniform "
        "corruption replaces symbols at random, absorbing corruption masks them, and the discretized Gaussian "
        "moves grey levels to nearby ones."
    )
    with gr.Row():
        with gr.Column(**CONTROLS):
            dataset = gr.Radio(list(CORRUPTION_DATASETS), value="digits", label="Data", elem_id="d3-dataset")
            transition = gr.Radio(TRANSITION_CHOICES, value="absorbing", label="Transition", elem_id="d3-transition")
            T = gr.Slider(2, 1000, 100, step=1, label="T", elem_id="d3-T")
            n = gr.Slider(1, MAX_IMAGES, 16, step=1, label="Digits", elem_id="d3-n")
            K = gr.Slider(MIN_CATEGORIES, 32, 4, step=1, label="Image: levels K", elem_id="d3-K", visible=False)
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="d3-seed")
            text = gr.Textbox(DEFAULT_TEXT, label="Text: a sentence", elem_id="d3-text", visible=False)
            # a file, not an image: its size is checked before it is decoded
            image = gr.File(label="Image: upload", file_types=["image"], type="filepath", height=140,
                            elem_id="d3-image", visible=False)  # fmt: skip
            show = gr.Button("Show", variant="primary", elem_id="d3-show")
        with gr.Column(scale=3):
            t = gr.Slider(0, 100, 50, step=1, label="t", elem_id="d3-t")
            info = gr.Markdown(elem_id="d3-info")
            with gr.Row():
                sample = picture(label="x_t", elem_id="d3-sample")
                sentence = gr.Markdown(visible=False, elem_id="d3-sentence")
                heat = gr.Plot(show_label=False, label="the cumulative transition matrix Q̄_t", elem_id="d3-heat")
            with gr.Row():
                bars = gr.Plot(show_label=False, label="category probabilities at t", elem_id="d3-bars")
                curve = gr.Plot(
                    show_label=False, label="distance of q(x_t) to the stationary distribution", elem_id="d3-curve"
                )
            with gr.Accordion("Export (GIF or MP4)", open=False):
                n_frames, fps, size = gif_controls("d3")
                export, fmt, exported = export_outputs("d3", "Corruption")
    settings = [dataset, transition, T, K, n, seed, text, image]
    outputs = [sample, sentence, heat, bars, curve, info]
    dataset.change(data_controls, dataset, [n, K, text, image], api_visibility="private")
    show.click(on_view, [*settings, t], [t, *outputs], api_name="d3pm_view")
    for control in (dataset, transition, T, K, n, seed, image):  # every setting the view depends on redraws it
        control.change(on_setting, [*settings, t], [t, *outputs], api_visibility="private", show_progress="hidden",
                       trigger_mode="always_last")  # fmt: skip
    text.submit(on_setting, [*settings, t], [t, *outputs], api_visibility="private", show_progress="hidden")
    t.input(on_step, [*settings, t], outputs, api_name="d3pm_step", show_progress="hidden",
            trigger_mode="always_last")  # fmt: skip
    export.click(
        gpu_call(on_export), [*settings, n_frames, fps, size, fmt], exported, api_name="d3pm_gif", **sampling_queue()
    )
    build_reverse(state)
    return dict(fn=on_view, inputs=[*settings, t], outputs=[t, *outputs])
