"""The Forward noising tab: watch q(x_t | x0) turn data into N(0, I).

Layout and wiring only; every number comes from explorer.forward.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr

from explorer import data
from explorer.core.schedules import PROCESSES, SUBVP, VE
from explorer.limits import (
    MAX_GIF_FPS,
    MAX_GIF_FRAMES,
    MAX_GIF_SIZE,
    MAX_IMAGE_SIDE,
    MAX_IMAGES,
    MAX_POINTS,
    MAX_T,
    MIN_GIF_SIZE,
    MIN_IMAGE_SIDE,
    MIN_T,
)
from explorer.runs.forward import MODES, ForwardSettings, forward_process, parse_steps
from explorer.ui.common import (
    CONTROLS,
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
from explorer.viz import figures
from explorer.viz.animations import export_forward_gif
from explorer.viz.export import export_suffix
from explorer.viz.panels import forward_strip
from explorer.viz.playback import forward_payload, prior_label

DATASET_CHOICES = [(info.label, name) for name, info in data.DATASETS.items() if info.kind in ("points", "image")]
MODE_LABELS = {"shortcut": "closed-form shortcut q(x_t | x_0)", "chain": "step-by-step chain q(x_t | x_(t-1))"}
MODE_CHOICES = [(MODE_LABELS[mode], mode) for mode in MODES]
STRIP_FRAME_SIZE = 200


def make_settings(
    dataset: str, upload: str | None, image_size: float, grey: bool, n_points: float, n_images: float,
    noise: float, seed: float, schedule: str, T: float, zero_snr: bool, mode: str,
) -> ForwardSettings:  # fmt: skip
    """The tab's inputs as core settings (numbers are checked by ForwardSettings.validated)."""
    return ForwardSettings(
        dataset=dataset, n_points=n_points, n_images=n_images, noise=noise, seed=seed,
        schedule=schedule, T=T, zero_terminal_snr=bool(zero_snr), mode=mode,
        image_path=upload if dataset == "upload" else None, image_size=image_size, grey=bool(grey),
    )  # fmt: skip


SCALE_NAMES = {VE: ("a_t", "σ_t"), SUBVP: ("e^(−B_t/2)", "1 − e^(−B_t)"), "flow": ("1 − t", "t")}


def describe(process: Any, step: int) -> str:
    """A one-line reading of q(x_t | x_0) at this step, in the paper's symbols."""
    signal, noise, log_snr = process.scales(step)
    if step == 0:
        return f"t = 0 of {process.T}: the data x₀ itself."
    snr = "−∞" if log_snr == -math.inf else f"{log_snr:.2f}"
    a_name, s_name = SCALE_NAMES.get(process.schedule.kind, ("√ᾱ_t", "√(1−ᾱ_t)"))
    return (
        f"t = {step} of {process.T} · q(x_t | x₀) = N({signal:.3f}·x₀, {noise**2:.3f}·I) · "
        f"{a_name} = {signal:.3f} · {s_name} = {noise:.3f} · log-SNR = {snr}"
    )


PROCESS_NOTES = {
    VE: (
        "variance exploding: x_t = x₀ + σ_t ε with σ geometric from 0.01 to σ_max = {prior:.3g} (the data's "
        "largest pairwise distance, Song & Ermon's technique 1), so x_T ≈ N(0, σ_max² I)"
    ),
    SUBVP: "sub-VP: x_t = e^(−B_t/2) x₀ + (1 − e^(−B_t)) ε, whose variance stays below the VP process's",
    "flow": "rectified flow's straight path x_t = (1 − t) x₀ + t ε",
}


def overview(settings: ForwardSettings, process: Any) -> str:
    """What the player holds for this setting, and how to move it."""
    what = data.DATASETS[settings.dataset].label
    route = MODE_LABELS[settings.mode]
    schedule = process.schedule
    note = PROCESS_NOTES.get(schedule.kind, "variance preserving")
    return (f"**{what}** · {schedule.name} schedule ({note.format(prior=schedule.prior_std)}) · T = {process.T} · "
            f"{route}. "
            "Press ▶ or drag the player's slider: every t plays in your browser, the histogram of one coordinate "
            f"against the exact density of q(x_t) and the prior {prior_label(schedule)} beside it.")  # fmt: skip


@user_errors
def on_settings(*args: Any) -> tuple[Any, ...]:
    """A setting changed: rebuild x0 (memoised per setting) and send the whole process to the player."""
    *inputs, compare, strip_text = args
    if inputs[0] == "upload" and not inputs[1]:  # the upload set was chosen; nothing is uploaded yet
        note = "**Upload an image** (the field under the dataset) to watch it dissolve into noise."
        return None, gr.skip(), gr.skip(), note, gr.skip()
    settings = make_settings(*inputs).validated()
    process = forward_process(settings)
    try:  # a bad strip field must not stop the rest of the view from following the settings
        strip = forward_strip(process, parse_steps(strip_text, settings.T), STRIP_FRAME_SIZE)
    except ValueError as error:
        gr.Warning(f"Strip: {error}")
        strip = gr.skip()
    schedules = [process.schedule] + [process.schedule_named(name) for name in compare or []
                                      if name != settings.schedule]  # fmt: skip
    played = forward_payload(process, lambda t: describe(process, t), schedules[1:])
    variance = figures.variance_figure(schedules, process.data_variance, 0)
    return (played, plot_value(figures.schedule_figure(schedules, 0)), plot_value(variance),
            overview(settings, process), strip)  # fmt: skip


@user_errors
def on_strip(*args: Any) -> Any:
    """Only the strip's t values changed."""
    *inputs, strip_text = args
    settings = make_settings(*inputs).validated()
    return forward_strip(forward_process(settings), parse_steps(strip_text, settings.T), STRIP_FRAME_SIZE)


@user_errors
def on_export(*args: Any) -> tuple[str, Any]:
    """Write the GIF into the output folder; show it (a path keeps it animated) and offer it."""
    *inputs, n_frames, fps, size, fmt = args
    settings = make_settings(*inputs).validated()
    path = new_output_path("forward", export_suffix(fmt))
    return export_result(export_forward_gif(settings, n_frames, fps, size, path))


def on_dataset(dataset: str) -> tuple[Any, ...]:
    """Show the controls that apply to the chosen dataset's kind."""
    kind = data.dataset_info(dataset).kind
    upload = dataset == "upload"
    return (
        gr.update(visible=upload),
        gr.update(visible=kind == "points"),
        gr.update(visible=kind == "points"),
        gr.update(visible=dataset == "digits"),
    )


def build() -> dict:
    """Lay out the Forward tab inside the current Blocks context and wire its events."""
    gr.Markdown(
        "Diffusion's forward process adds Gaussian noise step by step: "
        "q(x_t | x_(t-1)) = N(√(1−β_t) x_(t-1), β_t I), which in closed form is "
        "q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I). Press ▶ (or drag t) and watch the data dissolve into N(0, I). "
        "The variance-exploding process (ve) keeps the data and adds ever more noise, x_t = x_0 + σ_t ε, and "
        "sub-VP shrinks the noise below VP's; tick them under Overlay schedules to set their Var(x_t) side by side "
        "in the Schedules accordion."
    )
    with gr.Row():
        with gr.Column(**CONTROLS):
            dataset = gr.Dropdown(DATASET_CHOICES, value="spiral", label="Dataset", elem_id="fwd-dataset")
            with gr.Group(visible=False) as upload_group:
                upload = gr.File(label="Image", file_types=["image"], type="filepath", elem_id="fwd-upload")
                image_size = gr.Slider(MIN_IMAGE_SIDE, MAX_IMAGE_SIDE, 64, step=1, label="Resolution (pixels)")
                grey = gr.Checkbox(False, label="Greyscale")
            n_points = gr.Slider(100, MAX_POINTS, 2000, step=100, label="Points", elem_id="fwd-n-points")
            noise = gr.Slider(0.0, 0.2, 0.0, step=0.005, label="Data noise (std)")
            n_images = gr.Slider(1, MAX_IMAGES, 16, step=1, label="Images", visible=False)
            seed = gr.Number(0, precision=0, label="Seed", minimum=0, elem_id="fwd-seed")
            schedule = gr.Dropdown(PROCESSES, value="cosine", label="Process (schedule; ve, subvp: Song et al. 2021)",
                                   elem_id="fwd-schedule")  # fmt: skip
            T = gr.Number(1000, precision=0, label=f"T (steps, {MIN_T} to {MAX_T})", elem_id="fwd-T")
            zero_snr = gr.Checkbox(False, label="Rescale to zero terminal SNR (Lin et al. 2024)")
            mode = gr.Radio(MODE_CHOICES, value="shortcut", label="How x_t is reached", elem_id="fwd-mode")
            compare = gr.CheckboxGroup(PROCESSES, value=["linear"], label="Overlay schedules")
        with gr.Column(scale=3):
            info = gr.Markdown(elem_id="fwd-info")
            playback = player(
                "fwd-player",
                "The forward process at every t",
                hint="Choose a dataset: its forward process then plays here, in your browser.",
            )
            with gr.Accordion("Schedules: signal, noise, log-SNR and Var(x_t) against t", open=False):
                schedule_plot = gr.Plot(
                    show_label=False, label="signal, noise and log-SNR against t", elem_id="fwd-schedule-plot"
                )
                variance_plot = gr.Plot(show_label=False, label="Var(x_t) against t", elem_id="fwd-variance-plot")
            strip_text = gr.Textbox(
                "", label="Strip at t = (comma separated; empty: 6 evenly spaced)", elem_id="fwd-strip-t"
            )
            strip = picture(label="x_t at the strip's times", elem_id="fwd-strip")
            with gr.Accordion("Export (GIF or MP4)", open=True):
                with gr.Row():
                    n_frames = gr.Slider(2, MAX_GIF_FRAMES, 40, step=1, label="Frames", elem_id="fwd-gif-frames")
                    fps = gr.Slider(1, MAX_GIF_FPS, 12, step=1, label="Frames per second", elem_id="fwd-gif-fps")
                    size = gr.Slider(
                        MIN_GIF_SIZE, MAX_GIF_SIZE, 384, step=16, label="Size (px)", elem_id="fwd-gif-size"
                    )
                export, fmt, exported = export_outputs("fwd", "Forward process", variant="primary")

    settings_inputs = [dataset, upload, image_size, grey, n_points, n_images, noise, seed, schedule, T, zero_snr, mode]
    hidden = dict(show_progress="hidden", trigger_mode="always_last")

    dataset.change(on_dataset, dataset, [upload_group, n_points, noise, n_images], api_visibility="private")
    refresh = dict(fn=on_settings, inputs=[*settings_inputs, compare, strip_text],
                   outputs=[playback, schedule_plot, variance_plot, info, strip])  # fmt: skip
    gr.on(
        [dataset.change, upload.change, image_size.release, grey.change, n_points.release, n_images.release,
         noise.release, seed.submit, seed.blur, schedule.change, T.submit, T.blur, zero_snr.change, mode.change,
         compare.change],
        api_name="forward_view", **refresh, **hidden,
    )  # fmt: skip
    strip_text.submit(on_strip, [*settings_inputs, strip_text], strip, api_name="forward_strip")
    export.click(
        gpu_call(on_export),
        [*settings_inputs, n_frames, fps, size, fmt],
        exported,
        api_name="export_gif",
        **sampling_queue(),
    )
    return refresh
