"""The Reverse denoising tab: noise turning into data, with the model's running x0 guess.

Layout and wiring only; every number comes from explorer.reverse.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from explorer.config import model_roots
from explorer.core.guidance import conditioning
from explorer.limits import MAX_GIF_FPS, MAX_GIF_FRAMES, MAX_GIF_SIZE, MAX_IMAGES, MAX_POINTS, MIN_GIF_SIZE, check_int
from explorer.runs.evaluate import EvaluateSettings, score_images
from explorer.runs.forward import parse_steps
from explorer.runs.reverse import ReverseRun, ReverseSettings, optimal_reference, run_reverse
from explorer.runs.store import RunKey
from explorer.sampling.registry import reference_sampler
from explorer.serve.state import AppState
from explorer.store.registry import find_checkpoints, is_discrete, is_image_model, load_model
from explorer.ui import conditioning as cond_ui
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
from explorer.ui.player import player
from explorer.ui.scoring import SCORE_HINT, score_controls, score_markdown
from explorer.viz import figures
from explorer.viz.animations import reverse_animation
from explorer.viz.export import export_suffix, write_animation
from explorer.viz.frames import POINT_LIM
from explorer.viz.panels import panel_frame, path_indices, point_colors, reverse_strip
from explorer.viz.playback import reverse_payload

VARIANCE_CHOICES = [("β̃_t (posterior variance)", "beta_tilde"), ("β_t", "beta")]


def model_choices() -> list[str]:
    """The Gaussian-diffusion and flow models (discrete ones live in the Discrete tab)."""
    return sorted(name for name, folder in find_checkpoints(model_roots()).items() if not is_discrete(folder))


DEFAULT_MODEL = "spiral-mlp"


def default_model() -> str | None:
    """The shipped spiral diffusion model, else any spiral model, else the first one."""
    names = model_choices()
    if DEFAULT_MODEL in names:
        return DEFAULT_MODEL
    return next((n for n in names if "spiral" in n), names[0] if names else None)


def refresh_models(current: str | None) -> Any:
    """The picker with the registry as it is now (keeping the current choice)."""
    names = model_choices()
    return gr.update(choices=names, value=current if current in names else default_model())


def make_settings(model: str | None, n: float, seed: float, variance: str, ideal: bool, label: Any = None,
                  w: Any = 1.0) -> ReverseSettings:  # fmt: skip
    if not model:
        raise ValueError("choose a model first (train one in the Training panel, or use a shipped one)")
    return ReverseSettings(model=model, n=check_int("number of samples", n, 1, MAX_POINTS),
                           seed=check_int("seed", 0 if seed is None else seed, 0, 2**31 - 1),
                           variance=variance, ideal=bool(ideal), cond=conditioning(label, w))  # fmt: skip


IMAGE_PANEL_SIZE = 320
STRIP_SIZE = 150


def view(run: ReverseRun, step: float, overlay_ideal: bool) -> tuple[Any, ...]:
    """The two synchronised panels (plots for points, images for images), the curve and
    the reading at step t of a recorded run."""
    if run.kind == "image":
        return image_view(run, step)
    k = run.frame_index(step)
    t = run.steps[k]
    color = point_colors(run)
    paths = run.xs[: k + 1, path_indices(run.xs.shape[1])].transpose(1, 0, 2)  # (P, k+1, 2): T down to t
    left = figures.points_figure(run.xs[k], color, POINT_LIM, f"x_t at t = {t}", paths=paths, height=420)
    overlay = run.ideal_x0s[k] if overlay_ideal and run.ideal_x0s is not None else None
    right = figures.points_figure(run.x0s[k], color, POINT_LIM, f"x̂₀ made at t = {t}", overlay=overlay,
                                 overlay_name="ideal x̂₀ (training set)", height=420)  # fmt: skip
    curve = gr.update(visible=False)
    reading = f"**t = {t} of {run.T}** · {run.nfe} model evaluations for the whole run{steered(run)}"
    if run.distances is not None:
        curves = {
            "mean distance of x_t to the spiral": run.distances,
            "optimal: straight slide": optimal_reference(run),
        }
        fig = figures.curves_figure(
            run.steps, curves, "Distance to the spiral", "t", "mean distance", marker_x=t, reversed_x=True
        )
        curve = gr.update(value=plot_value(fig), visible=True)
        reading += f" · distance to the spiral {run.distances[k]:.4f} (final {run.distances[-1]:.4f})"
    hide = gr.update(visible=False)
    shown = (gr.update(value=plot_value(left), visible=True), gr.update(value=plot_value(right), visible=True))
    return (*shown, hide, hide, curve, reading)


def image_view(run: Any, step: float) -> tuple[Any, ...]:
    """Image panels for x_t and x0_hat, and the share of x0_hat the classifier already reads as the final digit."""
    k = run.frame_index(step)
    t, progress = run.steps[k], 1 - run.steps[k] / run.T
    left = panel_frame(run.xs[k], None, IMAGE_PANEL_SIZE, f"x_t   t = {t} / {run.T}", progress)
    right = panel_frame(run.x0s[k], None, IMAGE_PANEL_SIZE, "model's estimate of x_0", progress)
    reading = f"**t = {t} of {run.T}** · {run.nfe} model evaluations for the whole run{steered(run)}"
    curve = gr.update(visible=False)
    if run.commitment is not None:
        fig = figures.curves_figure(run.steps, {"x̂₀ already read as the final digit": run.commitment},
                                   "When does the model commit to a digit?", "t", "share of samples",
                                   marker_x=t, reversed_x=True)  # fmt: skip
        curve = gr.update(value=plot_value(fig), visible=True)
        reading += f" · {run.commitment[k]:.0%} of x̂₀ already read as the final digit"
    hide = gr.update(visible=False)
    return hide, hide, gr.update(value=left, visible=True), gr.update(value=right, visible=True), curve, reading


def steered(run: Any) -> str:
    """' · class spiral, w = 2' for a class-conditional run (empty for an unconditional one)."""
    cond = run.settings.cond
    if cond.label is None:
        return ""
    return f" · {cond.caption(run.classes)}: the reference classifier reads {run.precision:.0%} of the samples as it"


def strip_at(run: Any, text: str) -> Any:
    """The T-to-0 strip at the steps typed (empty: six evenly spaced, T first)."""
    return reverse_strip(run, sorted(parse_steps(text, run.T), reverse=True), STRIP_SIZE)


def record(state: AppState, model, n, seed, variance, ideal, label, w) -> tuple[RunKey, ReverseRun]:
    """Sample (or reuse the recorded run of the same settings and weights): heavy endpoints only."""
    settings = make_settings(model, n, seed, variance, ideal, label, w)
    return state.record("reverse", settings, lambda: run_reverse(settings))


@user_errors
def on_sample(state: AppState, model, n, seed, variance, ideal, label, w, overlay, strip_text) -> tuple[Any, ...]:
    """Run the sampler, record the run for this session and show its final step."""
    key, run = record(state, model, n, seed, variance, ideal, label, w)
    stride = max(1, run.steps[0] - run.steps[1])
    slider = gr.update(minimum=0, maximum=run.T, step=stride, value=0)
    return (key, reverse_payload(run), slider, *view(run, 0, overlay), strip_at(run, strip_text))


@user_errors
def on_strip(state: AppState, key: RunKey | None, strip_text: str) -> Any:
    return strip_at(state.runs.require(key), strip_text)


def model_kind(model: str | None) -> str | None:
    """ "image" or "points" for a registry model; None for no or an unknown name (reported when used)."""
    if not model:
        return None
    try:
        return "image" if is_image_model(load_model(model)[0]) else "points"
    except ValueError:
        return None


def count_slider(kind: str | None, max_points: int) -> Any:
    """A sample-count slider suited to the model's kind: up to 64 images, or max_points points."""
    if kind is None:
        return gr.update()
    if kind == "image":
        return gr.update(maximum=MAX_IMAGES, value=16, step=1)
    return gr.update(maximum=max_points, value=1000, step=1)


def on_model(model: str | None) -> tuple[Any, ...]:
    """The sample-count slider for the model's kind, and the Score button for an image model."""
    kind = model_kind(model)
    return count_slider(kind, MAX_POINTS), *score_visibility(kind)


def score_visibility(kind: str | None) -> tuple[Any, Any]:
    """Score (FD at n = 297) shows for image models only, with the line that says why it is needed."""
    if kind is None:
        return gr.update(), gr.update()
    image = kind == "image"
    return gr.update(visible=image), gr.update(value=SCORE_HINT if image else "")


@user_errors
def on_score(model, seed, variance, ideal, label, w) -> str:
    """FD, precision and recall of 297 samples drawn as Sample draws them (DDPM, no clipping)."""
    settings = make_settings(model, 1, seed, variance, ideal, label, w)
    if settings.ideal:
        raise ValueError("the ideal denoiser returns training digits: untick it to score the model")
    sampler = reference_sampler(load_model(settings.model)[1], settings.variance)
    return score_markdown(score_images(EvaluateSettings(settings.model, 0, settings.seed, sampler, settings.cond,
                                                        clip=False)))  # fmt: skip


@user_errors
def on_step(state: AppState, key: RunKey | None, overlay: bool, step: float) -> tuple[Any, ...]:
    """The recorded frame at t (never samples: without a recorded run it says to sample first)."""
    return view(state.runs.require(key), step, overlay)


@user_errors
def on_overlay(state: AppState, key: RunKey | None, overlay: bool, step: float) -> tuple[Any, ...]:
    """Redraw with or without the ideal overlay; before any run there is nothing to redraw."""
    if key is None:
        return tuple(gr.skip() for _ in range(6))
    return view(state.runs.require(key), step, overlay)


@user_errors
def on_export(state: AppState, model, n, seed, variance, ideal, label, w, n_frames, fps, size, fmt) -> tuple[Any, ...]:
    _, run = record(state, model, n, seed, variance, ideal, label, w)
    path = new_output_path("reverse", export_suffix(fmt))
    return export_result(write_animation(reverse_animation(run, n_frames, size), path, fps))


def build(state: AppState) -> dict:
    """Lay out the Reverse tab and wire its events; returns the refresh for the model list."""
    gr.Markdown(
        "DDPM generates by running the chain backwards: from x_T ~ N(0, I), each step predicts the noise, "
        "forms the model's guess x̂₀, and samples x_(t-1) ~ N(μ̃_t(x_t, x̂₀), σ_t² I) (Ho et al. 2020, Algorithm 2). "
        "A variance-exploding model (spiral-ve) starts from N(0, σ_max² I) and runs the same chain, SMLD's "
        "ancestral sampler; points beyond the view are not drawn."
    )
    with gr.Row():
        with gr.Column(**CONTROLS):
            model = gr.Dropdown(
                model_choices(), value=default_model(), label="Model", elem_id="rev-model", allow_custom_value=True
            )  # the core checks names; the list can lag behind models trained meanwhile
            n = gr.Slider(1, MAX_POINTS, 1000, step=1, label="Samples", elem_id="rev-n")
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="rev-seed")
            variance = gr.Radio(VARIANCE_CHOICES, value="beta_tilde", label="σ_t²", elem_id="rev-variance")
            ideal = gr.Checkbox(False, label="Sample with the ideal denoiser (it memorises the training set)")
            label, w = cond_ui.controls("rev")
            overlay = gr.Checkbox(True, label="Overlay the ideal x̂₀ on the model's x̂₀", elem_id="rev-overlay")
            sample = gr.Button("Sample", variant="primary", elem_id="rev-sample")
            score, score_info = score_controls("rev", model_kind(default_model()) == "image")
        with gr.Column(scale=3):
            gr.Markdown(
                "**Play the run in your browser** (space plays and pauses, the arrows step; nothing is "
                "asked of the server while it plays). x_t on the left, the model's x̂₀ on the right."
            )
            playback = player("rev-player", "Reverse process")
            gr.Markdown("**Inspect one step** (zoomable plots, and the ideal x̂₀ overlay)")
            step = gr.Slider(0, 1000, 0, step=5, label="t", elem_id="rev-t")
            info = gr.Markdown(elem_id="rev-info")
            with gr.Row():
                xt_plot = result_plot("x_t at the chosen step", "rev-xt", "Press Sample to draw x_t", 420)
                x0_plot = result_plot(
                    "the model's x̂₀ at the chosen step", "rev-x0", "Press Sample to draw the model's x̂₀", 420
                )
                xt_image = picture(label="x_t", visible=False, elem_id="rev-xt-img")
                x0_image = picture(label="x̂₀", visible=False, elem_id="rev-x0-img")
            curve = gr.Plot(
                show_label=False, label="distance to the spiral against t", elem_id="rev-curve", visible=False
            )
            strip_text = gr.Textbox(
                "", label="Strip at t = (comma separated; empty: 6 evenly spaced)", elem_id="rev-strip-t"
            )
            strip_image = picture(label="x_t and x̂₀ from t = T to 0", elem_id="rev-strip")
            with gr.Accordion("Export (GIF or MP4)", open=False):
                with gr.Row():
                    n_frames = gr.Slider(2, MAX_GIF_FRAMES, 40, step=1, label="Frames", elem_id="rev-gif-frames")
                    fps = gr.Slider(1, MAX_GIF_FPS, 12, step=1, label="Frames per second")
                    size = gr.Slider(MIN_GIF_SIZE, MAX_GIF_SIZE // 2, 320, step=16, label="Panel size (px)")
                export, fmt, exported = export_outputs("rev", "Reverse process")
    run_key = gr.State(None)  # this session's recorded run, by its key in state.runs

    settings = [model, n, seed, variance, ideal, label, w]
    panels = [xt_plot, x0_plot, xt_image, x0_image, curve, info]
    hidden = dict(show_progress="hidden", trigger_mode="always_last")
    sample.click(
        gpu_call(bind(on_sample, state)),
        [*settings, overlay, strip_text],
        [run_key, playback, step, *panels, strip_image],
        api_name="reverse_sample",
        **sampling_queue(),
    )
    strip_text.submit(bind(on_strip, state), [run_key, strip_text], strip_image, api_name="reverse_strip")
    model.change(on_model, model, [n, score, score_info], api_visibility="private")
    score.click(gpu_call(on_score), settings[:1] + settings[2:], score_info, api_name="reverse_score",
                **sampling_queue())  # fmt: skip
    model.change(cond_ui.on_model, [model, label], [label, w], api_visibility="private")
    # .input (user moves only): programmatic moves (sample, play) draw their own frames
    step.input(bind(on_step, state), [run_key, overlay, step], panels, api_name="reverse_step", **hidden)
    overlay.change(bind(on_overlay, state), [run_key, overlay, step], panels, api_visibility="private", **hidden)
    export.click(
        gpu_call(bind(on_export, state)),
        [*settings, n_frames, fps, size, fmt],
        exported,
        api_name="reverse_gif",
        **sampling_queue(),
    )
    return dict(model=model)
