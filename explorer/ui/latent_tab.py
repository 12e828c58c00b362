"""The Latent space tab: DDIM inversion, reconstruction and interpolation.

Layout and wiring only; every number comes from explorer.latent.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from explorer.limits import MAX_GIF_FPS, MAX_GIF_SIZE, MIN_GIF_SIZE, check_int
from explorer.runs.flow import FEW_STEPS, FlowComparisonSettings, run_flow_comparison
from explorer.runs.latent import (
    MAX_INVERT_POINTS,
    InterpolationSettings,
    LatentSettings,
    run_interpolation,
    run_invert,
)
from explorer.runs.latent import (
    latent_histogram as latent_density,
)
from explorer.sampling.inversion import MAX_MORPH_FRAMES, PATH_STEPS, REFINE_ITERATIONS
from explorer.serve.state import AppState
from explorer.ui.common import (
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
from explorer.ui.reverse_tab import count_slider, default_model, model_choices, model_kind
from explorer.viz import figures, frames
from explorer.viz.export import export_suffix, write_animation
from explorer.viz.frames import POINT_LIM
from explorer.viz.panels import morph_frames, morph_strip
from explorer.viz.playback import morph_payload

PANEL = 300


def invert_settings(model, steps, n, seed, upload) -> LatentSettings:
    if not model:
        raise ValueError("choose a model first (train one in the Train tab, or use a shipped one)")
    return LatentSettings(model=model, steps=steps, n=n, seed=0 if seed is None else seed,
                                 upload=upload or None)  # fmt: skip


def latent_histogram(x_T: np.ndarray) -> Any:
    edges, density, grid, standard = latent_density(x_T)
    title = f"Latent coordinates (std {float(x_T.std()):.2f}) against N(0, 1)"
    return plot_value(figures.histogram_figure(edges, density, grid, None, standard, title))


@user_errors
def on_invert(state: AppState, model, steps, n, seed, upload) -> tuple[Any, ...]:
    settings = invert_settings(model, steps, n, seed, upload)
    _, run = state.record("invert", settings, lambda: run_invert(settings))
    refined = f"{REFINE_ITERATIONS} fixed-point iterations a step"
    curves = {"plain DDIM inversion": run.errors}
    for k, errors in run.refined_errors.items():
        curves[f"with {k} fixed-point iteration{'s' if k > 1 else ''} a step"] = errors
    curves["Heun both ways (2S − 1 calls each way)"] = run.heun_errors
    errors = figures.log_curves_figure({k: ([s for s, _ in v], [e for _, e in v]) for k, v in curves.items()},
                                      "Round-trip error against steps", "S (steps each way)", "MSE per dimension",
                                      log_y=True)  # fmt: skip
    std = float(run.x_T.std())
    info = (f"**{len(run.x0)} items, {run.settings.steps} steps each way** · round-trip MSE {run.mse:.3g} "
            f"(PSNR {run.psnr:.1f} dB; with {refined}, Anderson-accelerated as in Pan et al. 2023: "
            f"{run.refined_mse:.3g}) · "
            f"latent mean {float(run.x_T.mean()):.3f}, std {std:.3f}")  # fmt: skip
    if abs(std - run.refined_std) > 0.05:
        info += (f" · the refined latents have std {run.refined_std:.3f}: plain inversion's x_t ≈ x_(t-1) "
                 "approximation, not the data, moves the latents away from N(0, I)")  # fmt: skip
    if run.kind == "points":
        color = frames.angle_colors(run.x0)
        fig = figures.points_figure(run.x_T, color, POINT_LIM, "Latents x_T, data x_0 (pink), inversion paths",
                                   paths=run.paths, overlay=run.x0, overlay_name="data x_0")  # fmt: skip
        hide = gr.update(visible=False)
        return gr.update(value=plot_value(fig), visible=True), hide, latent_histogram(run.x_T), plot_value(errors), info
    panels = [frames.render_images(x, PANEL, caption) for x, caption in
              ((run.x0, "x_0"), (run.x_T, "latent x_T"), (run.x0_rec, "decoded x_0"))]  # fmt: skip
    image = gr.update(value=frames.hstack_frames(panels), visible=True)
    return gr.update(visible=False), image, latent_histogram(run.x_T), plot_value(errors), info


def interpolation_settings(model, steps, n, seed, a, b, upload_a, upload_b, n_frames):
    if not model:
        raise ValueError("choose a model first (train one in the Train tab, or use a shipped one)")
    return InterpolationSettings(model=model, a=str(a), b=str(b), upload_a=upload_a or None, upload_b=upload_b or None,
                                 steps=steps,
                                        frames=n_frames, n=n, seed=0 if seed is None else seed)  # fmt: skip


@user_errors
def on_interpolate(state: AppState, model, steps, n, seed, a, b, upload_a, upload_b, n_frames) -> tuple[Any, ...]:
    settings = interpolation_settings(model, steps, n, seed, a, b, upload_a, upload_b, n_frames)
    _, (morph, cloud) = state.record("interpolate", settings, lambda: run_interpolation(settings))
    norms = figures.log_curves_figure({name: (morph.alphas.tolist(), values.tolist())
                                      for name, values in morph.norms.items()},
                                     "Latent norm along the path", "alpha", "|z| / sqrt(D)",
                                     log_x=False)  # fmt: skip
    mid, ends = len(morph.alphas) // 2, morph.norms["slerp"][[0, -1]]
    info = (f"Mid-way, slerp's latent keeps {morph.norms['slerp'][mid]:.2f} of unit norm per dimension and lerp's "
            f"falls to {morph.norms['lerp'][mid]:.2f} (A: {ends[0]:.2f}, B: {ends[1]:.2f}). Samples of N(0, I) "
            "in D dimensions have norm close to sqrt(D) (1 on this axis), so lerp's midpoints move further from "
            "the typical set the model was trained on than its ends (most visibly for images, D = 64); inverted "
            "latents of real data may sit below 1 themselves")  # fmt: skip
    played = morph_payload(morph, cloud)
    if morph.decoded["slerp"].ndim == 2:
        fig = figures.interpolation_figure(cloud, morph.decoded, POINT_LIM, "Decoded paths from A to B")
        return played, gr.update(value=plot_value(fig), visible=True), gr.update(visible=False), plot_value(norms), info
    strip = morph_strip(morph, cell=56)
    return played, gr.update(visible=False), gr.update(value=strip, visible=True), plot_value(norms), info


@user_errors
def on_gif(state: AppState, model, steps, n, seed, a, b, upload_a, upload_b, n_frames, fps, size, fmt
           ) -> tuple[Any, ...]:  # fmt: skip
    settings = interpolation_settings(model, steps, n, seed, a, b, upload_a, upload_b, n_frames)
    _, (morph, cloud) = state.record("interpolate", settings, lambda: run_interpolation(settings))
    size = check_int("GIF panel size", size, MIN_GIF_SIZE, MAX_GIF_SIZE // 2)
    background = cloud if morph.decoded["slerp"].ndim == 2 else None
    path = new_output_path("morph", export_suffix(fmt))
    return export_result(write_animation(morph_frames(morph, size, background), path, fps))


DRAWN_PATHS = 48


def flow_defaults() -> tuple[str | None, str | None, str | None, str | None]:
    """A diffusion model, a rectified flow, one trained on minibatch-OT pairs and a reflowed one, of the
    spiral where they exist: the independent, OT and reflow couplings side by side."""
    names = model_choices()
    reflows = [n for n in names if "reflow" in n]
    otflows = [n for n in names if "otflow" in n]
    flows = [n for n in names if "flow" in n and n not in reflows and n not in otflows]
    diffusion = [n for n in names if "flow" not in n]
    pick = lambda pool: next((n for n in pool if "spiral" in n), pool[0] if pool else None)  # noqa: E731
    return pick(diffusion), pick(flows), pick(otflows), pick(reflows)


@user_errors
def on_flow(
    state: AppState, diffusion: str | None, flow: str | None, otflow: str | None, reflow: str | None, seed: float
) -> tuple[Any, ...]:
    if not diffusion or not flow:
        raise ValueError("choose a diffusion model and a rectified-flow model")
    slots = (diffusion, flow, otflow, reflow)  # the four path plots, in this order
    names = tuple(name for name in slots if name)
    seed = check_int("seed", 0 if seed is None else seed, 0, 2**31 - 1)
    settings = FlowComparisonSettings(names, seed)
    _, c = state.record("flow", settings, lambda: run_flow_comparison(settings), models=names)
    rows = [[name, round(c.straightness[name], 4), round(c.chord_deviation[name], 4),
             *(round(c.quality[name][S], 4) for S in FEW_STEPS)] for name in c.paths]  # fmt: skip
    better = "higher" if c.higher_is_better else "lower"
    info = (f"Straightness S (Liu et al. 2023): the mean over Euler-{PATH_STEPS} trajectories of "
            "∫ |(x_T − x_0) − dx/dτ|² dτ in the time τ = t / T (0: straight lines run at constant speed). "
            "Chord deviation: their mean distance from the chords between their ends, over the mean chord "
            f"length (0: straight lines). Quality: {c.metric} ({better} is better) of Euler samples with 1, 2, 5 "
            "and 10 uniformly spaced steps from the same x_T.")  # fmt: skip
    hide = gr.update(visible=False)
    if c.kind == "points":
        plots = []
        for name in slots:
            if not name:
                plots.append(hide)
                continue
            paths = c.paths[name]
            title = f"{name}: S = {c.straightness[name]:.2g}"  # short: four panels share a row
            fig = figures.points_figure(paths[:, -1], frames.angle_colors(paths[:, 0]), POINT_LIM, title,
                                        paths=paths[:DRAWN_PATHS], height=420)  # fmt: skip
            plots.append(gr.update(value=plot_value(fig), visible=True))
        return (*plots, hide, rows, info)
    grid = []
    for name in c.paths:
        panels = [frames.render_images(c.samples[name][S][:16], 200, f"{name}, {S} step{'s' if S > 1 else ''}")
                  for S in FEW_STEPS]  # fmt: skip
        grid.append(frames.hstack_frames(panels))
    gap = np.full((8, grid[0].shape[1], 3), 255, np.uint8)
    image = np.concatenate([part for row in grid for part in (row, gap)][:-1])
    return hide, hide, hide, hide, gr.update(value=image, visible=True), rows, info


def on_model(model: str | None) -> tuple[Any, Any, Any, Any]:
    """Images: fewer items and the upload fields; points: up to 5,000 drawn points."""
    kind = model_kind(model)
    if kind is None:
        return gr.update(), gr.update(), gr.update(), gr.update()
    uploads = gr.update(visible=kind == "image")
    return count_slider(kind, MAX_INVERT_POINTS), uploads, uploads, uploads


def build(state: AppState) -> dict:
    """Lay out the Latent space tab and wire its events; returns its model picker."""
    gr.Markdown(
        "With η = 0 DDIM is a deterministic map between data and noise, so it can be run backwards: encode x_0 "
        "into a latent x_T, decode it again, and walk between two latents. The round trip is exact only as the "
        "steps shrink (Song et al. 2021, sec. 5.4)."
    )
    with gr.Row(equal_height=True):
        model = gr.Dropdown(model_choices(), value=default_model(), label="Model", elem_id="lat-model",
                            allow_custom_value=True, scale=2)  # fmt: skip
        steps = gr.Slider(1, 1000, 50, step=1, label="DDIM steps S (each way)", elem_id="lat-steps", scale=2)
        n = gr.Slider(1, MAX_INVERT_POINTS, 1000, step=1, label="Items (points drawn afresh, or "
                      "training images picked by the seed)", elem_id="lat-n", scale=2)  # fmt: skip
        seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="lat-seed", scale=1)
    with gr.Accordion("Invert and reconstruct", open=True):
        with gr.Row():
            # files, not gr.Image: the size in the header is checked before a pixel is decoded
            upload = gr.File(label="…or encode your image (resized to the model's size)", file_types=["image"],
                             type="filepath", elem_id="lat-upload", visible=False, height=160)  # fmt: skip
            invert = gr.Button("Invert and decode", variant="primary", elem_id="lat-invert")
        info = gr.Markdown(elem_id="lat-info")
        with gr.Row():
            latents = result_plot(
                "latents x_T, data x_0 and the inversion paths", "lat-latents", "Press Invert and decode", 460
            )
            images = picture(label="x_0, x_T, decoded", visible=False,
                              elem_id="lat-images")  # fmt: skip
            histogram = result_plot("latent coordinates against N(0, 1)", "lat-hist", "Press Invert and decode", 300)
        errors = result_plot("round-trip error against steps", "lat-errors", "Press Invert and decode", 340)
    with gr.Accordion("Interpolate", open=True):
        with gr.Row(equal_height=True):
            a = gr.Textbox("0", label="A: an item's index, or 'x, y' for a point", elem_id="lat-a")
            b = gr.Textbox("1", label="B", elem_id="lat-b")
            n_frames = gr.Slider(2, MAX_MORPH_FRAMES, 9, step=1, label="Steps along the path",
                                 elem_id="lat-frames")  # fmt: skip
        with gr.Row():
            upload_a = gr.File(label="…or an image for A", file_types=["image"], type="filepath", visible=False,
                               height=140, elem_id="lat-upload-a")  # fmt: skip
            upload_b = gr.File(label="…or an image for B", file_types=["image"], type="filepath", visible=False,
                               height=140, elem_id="lat-upload-b")  # fmt: skip
        interpolate = gr.Button("Interpolate (slerp and lerp)", variant="primary", elem_id="lat-interpolate")
        morph_info = gr.Markdown(elem_id="lat-morph-info")
        morph_player = player("lat-player", "Morph from A to B", "Interpolate")
        with gr.Row():
            path_plot = result_plot("decoded paths from A to B", "lat-paths", "Press Interpolate", 460)
            strip = picture(label="slerp (top) and lerp (bottom)", visible=False,
                             elem_id="lat-strip")  # fmt: skip
            norms = result_plot("latent norm along the path", "lat-norms", "Press Interpolate", 340)
        with gr.Row():
            fps = gr.Slider(1, MAX_GIF_FPS, 4, step=1, label="GIF frames per second")
            size = gr.Slider(MIN_GIF_SIZE, MAX_GIF_SIZE // 2, 256, step=16, label="GIF panel size (px)")
        export, fmt, exported = export_outputs("lat", "Morph", "Export the morph")

    with gr.Accordion("Rectified flow: straight paths against curved ones", open=False):
        gr.Markdown(
            "A rectified-flow model learns the velocity eps − x_0 of the straight path x_t = (1 − t) x_0 + t eps "
            "(Liu et al. 2023), trained by the same trainer (`--schedule flow --prediction flow`) and sampled and "
            "inverted by the same Euler and Heun code. Its paths are straight for each (x_0, eps) pair, but the "
            "learned velocity averages over all pairs through a point, so the ODE's paths bend. Pairing noise with "
            "data by minibatch optimal transport while training (`--coupling ot`; Tong et al. 2023, Pooladian et "
            "al. 2023) straightens them in one run; one reflow (`--reflow MODEL`: retrain on the noise-to-sample "
            "pairs of the first model's ODE) straightens them with a second. "
            "Compare trajectories and few-step samples with a diffusion model's DDIM paths from the same x_T."
        )
        diffusion_default, flow_default, otflow_default, reflow_default = flow_defaults()
        with gr.Row(equal_height=True):
            diffusion_model = gr.Dropdown(model_choices(), value=diffusion_default, label="Diffusion model",
                                          elem_id="lat-diffusion", allow_custom_value=True)  # fmt: skip
            flow_model = gr.Dropdown(model_choices(), value=flow_default, label="Rectified-flow model",
                                     elem_id="lat-flow", allow_custom_value=True)  # fmt: skip
            otflow_model = gr.Dropdown(model_choices(), value=otflow_default, label="Flow on minibatch-OT pairs "
                                       "(optional)", elem_id="lat-otflow", allow_custom_value=True)  # fmt: skip
            reflow_model = gr.Dropdown(model_choices(), value=reflow_default, label="Reflowed model (optional)",
                                       elem_id="lat-reflow", allow_custom_value=True)  # fmt: skip
            flow_run = gr.Button("Compare", variant="primary", elem_id="lat-flow-run")
        flow_info = gr.Markdown(elem_id="lat-flow-info")
        with gr.Row():
            diffusion_paths = result_plot(
                "the diffusion model's DDIM paths", "lat-diffusion-paths", "Press Compare", 360
            )
            flow_paths = result_plot("the rectified-flow model's paths", "lat-flow-paths", "Press Compare", 360)
            otflow_paths = result_plot("the minibatch-OT flow's paths", "lat-otflow-paths", "Press Compare", 360)
            reflow_paths = result_plot("the reflowed model's paths", "lat-reflow-paths", "Press Compare", 360)
        flow_images = picture(label="samples with 1, 2, 5, 10 steps", visible=False,
                               elem_id="lat-flow-images")  # fmt: skip
        flow_table = gr.Dataframe(headers=["model", "straightness S", "chord deviation",
                                           *(f"{s} step{'s' if s > 1 else ''}"
                                           for s in FEW_STEPS)], label="Quality with few Euler steps",
                                  interactive=False, elem_id="lat-flow-table")  # fmt: skip

    common = [model, steps, n, seed]
    morph_inputs = [*common, a, b, upload_a, upload_b, n_frames]
    invert.click(
        gpu_call(bind(on_invert, state)),
        [*common, upload],
        [latents, images, histogram, errors, info],
        api_name="latent_invert",
        **sampling_queue(),
    )
    interpolate.click(gpu_call(bind(on_interpolate, state)), morph_inputs,
                      [morph_player, path_plot, strip, norms, morph_info],
                      api_name="latent_interpolate", **sampling_queue())  # fmt: skip
    export.click(
        gpu_call(bind(on_gif, state)),
        [*morph_inputs, fps, size, fmt],
        exported,
        api_name="latent_gif",
        **sampling_queue(),
    )
    model.change(on_model, model, [n, upload, upload_a, upload_b], api_visibility="private")
    flow_outputs = [diffusion_paths, flow_paths, otflow_paths, reflow_paths, flow_images, flow_table, flow_info]
    flow_run.click(
        gpu_call(bind(on_flow, state)),
        [diffusion_model, flow_model, otflow_model, reflow_model, seed],
        flow_outputs,
        api_name="latent_flow",
        **sampling_queue(),
    )
    return dict(model=model)
