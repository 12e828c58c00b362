"""The Score and likelihood tab: what a model has learned, as a score field and in bits.

Three parts: the learned score of a point model beside the exact score of its noised training set;
the ELBO term by term (Gaussian, flow and D3PM models); the exact likelihood through the
probability-flow ODE. Layout and wiring only; every number comes from explorer.runs.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from explorer.core.likelihood import REVERSE_VARIANCES
from explorer.data.registry import DataKind
from explorer.evaluation.ode_likelihood import MAX_PROBES
from explorer.limits import check_int, clamped_index
from explorer.runs.likelihood import (
    MAX_ELBO_IMAGES,
    MAX_ELBO_POINTS,
    MAX_NLL_IMAGES,
    MAX_NLL_POINTS,
    MAX_NLL_STEPS,
    ElboRun,
    ElboSettings,
    NllRun,
    NllSettings,
    density_axis,
    run_elbo,
    run_nll,
)
from explorer.runs.score import FIELD_FRAMES, FIELD_LIM, ScoreField, ScoreSettings, run_score_field
from explorer.runs.store import RunKey
from explorer.serve.state import AppState
from explorer.store.registry import models_of_kind
from explorer.ui.common import CONTROLS, bind, gpu_call, picture, plot_value, result_plot, sampling_queue, user_errors
from explorer.viz import field_figures, figures, frames

SHOWN_DIGITS = 8  # the most and the least likely digits drawn
FIRST_FIELD_T = 0.02  # the field opens at the recorded t nearest this share of T (where the data's shape shows)


def point_models() -> list[str]:
    return models_of_kind(DataKind.POINTS)


def continuous_models() -> list[str]:
    return models_of_kind(DataKind.POINTS, DataKind.IMAGE)


def all_models() -> list[str]:
    return models_of_kind(DataKind.POINTS, DataKind.IMAGE, DataKind.CATEGORICAL)


def first_of(names: list[str], preferred: str) -> str | None:
    return preferred if preferred in names else names[0] if names else None


def seed_of(seed: Any) -> int:
    return check_int("seed", 0 if seed is None else seed, 0, 2**31 - 1)


def needs(model: str | None) -> str:
    if not model:
        raise ValueError("choose a model first (train one in the Train tab, or use a shipped one)")
    return model


# --- the score field -------------------------------------------------------------------------------


def field_view(field: ScoreField, i: Any) -> tuple[Any, str]:
    frame = field.frames[clamped_index("the t slider", i, len(field.frames))]
    title = f"{field.settings.model}: the score at t = {frame.t} of {field.T}"
    fig = field_figures.score_field_figure(field.grid, frame.learned, frame.exact, field.axis, frame.weighted_error,
                                     frame.noisy, frame.tweedie, field.data, FIELD_LIM, title)  # fmt: skip
    info = (f"**t = {frame.t}** · relative error E‖s_θ − s*‖² / E‖s*‖² = {frame.relative_error:.3g} over noised "
            "training points · arrows: s = −ε̂ / s_t, one scale for both panels (longest ones clipped) · "
            "green: Tweedie's x̂₀ = (x_t + s_t² s) / a_t from a few x_t (x_t = a_t x₀ + s_t ε: a_t = √ᾱ_t and "
            "s_t = √(1 − ᾱ_t) for VP, a_t = 1 and s_t = σ_t for VE) · far from the data, where q_t ≈ 0 and "
            "the model was never trained, the learned arrows fall short of the exact ones")  # fmt: skip
    return plot_value(fig), info


@user_errors
def on_field(state: AppState, model: str | None, seed: Any) -> tuple[Any, ...]:
    settings = ScoreSettings(needs(model), seed_of(seed))
    key, field = state.record("score-field", settings, lambda: run_score_field(settings))
    first = min(range(len(field.frames)), key=lambda k: abs(field.frames[k].t - FIRST_FIELD_T * field.T))
    return (key, gr.update(maximum=len(field.frames) - 1, value=first), *field_view(field, first))


@user_errors
def on_field_frame(state: AppState, key: RunKey | None, i: float) -> tuple[Any, str]:
    """A recorded t of the field (never computes)."""
    return field_view(state.runs.require(key), i)


# --- the ELBO ----------------------------------------------------------------------------------------


def elbo_table(run: ElboRun) -> str:
    terms, unit = run.terms, run.terms.unit
    respaced = (f"every {terms.every}th t: one t drawn in each run of {terms.every} (narrower near the data: 1, 2-3, "
                "4-7, ...) for each item, reweighted"
                if terms.every > 1 else "all T terms")  # fmt: skip
    decoder = ("a Gaussian density −log N(x₀; μ_θ(x₁, 1), σ₁² I): points are continuous, so this term (and the "
               "total) is a density and may be negative" if terms.decoder_kind == "Gaussian density"
               else f"the {terms.decoder_kind}, a probability")  # fmt: skip
    return (
        f"**−ELBO = {terms.total:.4f} ± {terms.stderr:.4f} {unit}** on {run.items} · {respaced} · {terms.nfe} model "
        "calls\n\n"
        f"| term | {unit} |\n|---|---|\n"
        f"| prior L_T = KL(q(x_T│x₀) ‖ p(x_T)) | {terms.prior:.4g} |\n"
        f"| Σ L_(t−1) = Σ KL(q(x_(t−1)│x_t, x₀) ‖ p_θ(x_(t−1)│x_t)) | {terms.transitions:.4g} |\n"
        f"| decoder L₀ = −log p_θ(x₀│x₁) | {terms.decoder:.4g} |\n"
        f"| **total** | **{terms.total:.4g}** |\n\n"
        f"L₀ is {decoder}."
    )


@user_errors
def on_elbo(state: AppState, model: str | None, n: Any, every: Any, variance: str, seed: Any) -> tuple[Any, ...]:
    settings = ElboSettings(needs(model), n, seed_of(seed), every, variance)
    _, run = state.record("elbo", settings, lambda: run_elbo(settings))
    unit = run.terms.unit
    terms = figures.log_curves_figure({"L_(t−1)": (run.terms.steps, [max(v, 1e-12) for v in run.terms.terms])},
                                      "Where the bits are spent: each term against t", "t", f"{unit} per step",
                                      log_y=True)  # fmt: skip
    if run.weights:
        weights = figures.log_curves_figure(run.weights, "Weight on |ε − ε̂|² at each t (mean 1)", "t",
                                            "relative weight", log_y=True)  # fmt: skip
    else:
        weights = figures.waiting_figure("Weight on |ε − ε̂|² at each t",
                                         "D3PM: categorical KLs, no ε weighting")  # fmt: skip
    return elbo_table(run), plot_value(terms), plot_value(weights)


# --- the exact likelihood ----------------------------------------------------------------------------


def digit_extremes(run: NllRun) -> np.ndarray:
    """The most and the least likely scored digits, side by side."""
    order = np.argsort(run.per_item)
    k = min(SHOWN_DIGITS, len(order))
    likely, unlikely = run.data[order[:k]], run.data[order[::-1][:k]]
    best = f"most likely ({run.per_item[order[0]]:.2f} bits/dim)"
    worst = f"least likely ({run.per_item[order[-1]]:.2f} bits/dim)"
    return frames.hstack_frames([frames.render_images(likely, 260, best), frames.render_images(unlikely, 260, worst)])


@user_errors
def on_nll(state: AppState, model: str | None, n: Any, steps: Any, probes: Any, seed: Any) -> tuple[Any, ...]:
    name = needs(model)
    points = name in point_models()
    settings = NllSettings(name, n, seed_of(seed), steps, probes, density=points)
    _, run = state.record("nll", settings, lambda: run_nll(settings))
    info = (f"**NLL = {run.mean:.4f} ± {run.stderr:.4f} {run.unit}** on {run.items} · {steps} Heun steps of the "
            f"probability-flow ODE from data to noise, {run.nfe} model calls · {run.note}")  # fmt: skip
    if points:
        fig = field_figures.density_pair_figure(density_axis(), run.log_density, run.data_density,
                                          f"{name}: p_θ(x) beside the data")  # fmt: skip
        return info, gr.update(value=plot_value(fig), visible=True), gr.update(visible=False)
    counts, edges = np.histogram(run.per_item, bins=min(24, max(4, len(run.per_item) // 4)))
    centres = (edges[:-1] + edges[1:]) / 2
    fig = figures.bars_figure([f"{c:.2f}" for c in centres], {"digits": counts},
                              f"{name}: bits/dim of each scored digit")  # fmt: skip
    fig["layout"]["yaxis"]["title"]["text"] = "digits"
    return info, gr.update(value=plot_value(fig), visible=True), gr.update(value=digit_extremes(run), visible=True)


def count_update(model: str | None, limits: tuple[int, int], defaults: tuple[int, int]) -> Any:
    """A count slider for the chosen model's kind: (points, images) limits and defaults."""
    if not model or model not in all_models():
        return gr.update()
    image = model not in point_models()  # read from the checkpoint's config, no weights loaded
    return gr.update(maximum=limits[image], value=defaults[image])


def on_elbo_model(model: str | None) -> tuple[Any, Any]:
    """The count slider for the model's kind; the reverse variance only for Gaussian and flow models."""
    discrete = bool(model) and model in models_of_kind(DataKind.CATEGORICAL)
    return count_update(model, *ELBO_COUNTS), gr.update(visible=not discrete)


ELBO_COUNTS = ((MAX_ELBO_POINTS, MAX_ELBO_IMAGES), (500, 200))
NLL_COUNTS = ((MAX_NLL_POINTS, MAX_NLL_IMAGES), (500, 100))


# --- layout ------------------------------------------------------------------------------------------


def build_field(state: AppState) -> gr.Dropdown:
    gr.Markdown(
        "A diffusion model learns the **score** ∇ log q_t(x) of the noised data (Song et al. 2021): whatever it "
        "predicts (ε, x₀, v or a flow's velocity) converts to ε̂ and then to s_θ = −ε̂ / √(1 − ᾱ_t). The exact "
        "score of the noised training set is that of a mixture of Gaussians N(√ᾱ_t x_i, (1 − ᾱ_t) I), a "
        "softmax-weighted pull towards the training points: the same quantity as the ideal denoiser. The heat map "
        "weights the error ‖s_θ − s*‖ by the density q_t, so it shows the error where samples go."
    )
    points = point_models()
    with gr.Row():
        with gr.Column(**CONTROLS):
            model = gr.Dropdown(points, value=first_of(points, "spiral-mlp"), label="Point model",
                                elem_id="score-model", allow_custom_value=True)  # fmt: skip
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="score-seed")
            run = gr.Button("Compute the field", variant="primary", elem_id="score-run")
        with gr.Column(scale=3):
            frame_i = gr.Slider(0, FIELD_FRAMES - 1, 0, step=1, elem_id="score-frame",
                                label=f"Which t: one of {FIELD_FRAMES}, evenly spaced in log-SNR (its t is in "
                                      "the plot's title)")  # fmt: skip
            info = gr.Markdown(elem_id="score-info")
            plot = result_plot("the learned and the exact score", "score-plot", "Press Compute the field", 500)
    key = gr.State(None)
    run.click(gpu_call(bind(on_field, state)), [model, seed], [key, frame_i, plot, info], api_name="score_field",
              **sampling_queue())  # fmt: skip
    frame_i.input(bind(on_field_frame, state), [key, frame_i], [plot, info], api_name="score_frame",
                  show_progress="hidden", trigger_mode="always_last")  # fmt: skip
    return model


def build_elbo(state: AppState) -> gr.Dropdown:
    gr.Markdown(
        "Diffusion is a hierarchical VAE with a fixed encoder q(x_(1:T)│x₀) (Ho et al. 2020; Kingma et al. 2021): "
        "its evidence lower bound splits into a prior term L_T, one KL per step L_(t−1), and a decoder term L₀. "
        "Gaussian KLs are closed-form; D3PM's are categorical (Austin et al. 2021). Ho et al.'s L_simple drops "
        "the ELBO's weight on each t, which is why the model it trains is not the ELBO's best."
    )
    names = all_models()
    with gr.Row():
        with gr.Column(**CONTROLS):
            model = gr.Dropdown(names, value=first_of(names, "digits-unet"), label="Model", elem_id="elbo-model",
                                allow_custom_value=True)  # fmt: skip
            n = gr.Slider(1, MAX_ELBO_IMAGES, 200, step=1, label="Items scored", elem_id="elbo-n")
            every = gr.Slider(1, 100, 10, step=1, label="Score every k-th t (1: all T terms)", elem_id="elbo-every")
            variance = gr.Radio(list(REVERSE_VARIANCES), value="beta", label="Reverse variance σ_t² (β or β̃)",
                                elem_id="elbo-variance")  # fmt: skip
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="elbo-seed")
            run = gr.Button("Compute the ELBO", variant="primary", elem_id="elbo-run")
        with gr.Column(scale=3):
            table = gr.Markdown("Press **Compute the ELBO**.", elem_id="elbo-info")
            with gr.Row():
                terms = result_plot("the ELBO's terms against t", "elbo-terms", "Press Compute the ELBO", 340)
                weights = result_plot("the ELBO's weighting against L_simple's", "elbo-weights",
                                      "Press Compute the ELBO", 340)  # fmt: skip
    model.change(on_elbo_model, model, [n, variance], api_visibility="private")
    run.click(gpu_call(bind(on_elbo, state)), [model, n, every, variance, seed], [table, terms, weights],
              api_name="elbo", **sampling_queue())  # fmt: skip
    return model


def build_nll(state: AppState) -> gr.Dropdown:
    gr.Markdown(
        "The probability-flow ODE maps data to noise invertibly, so the change of variables gives the exact "
        "log p₀(x) = log p_T(x_T) + ∫ ∇·f̃(x_t, t) dt (Song et al. 2021, app. D). The divergence is exact for points "
        "and Hutchinson's estimate (Rademacher probes) for digits; digits are uniformly dequantised over each grey "
        "level's bin, so their bits/dim are comparable to the ELBO's discrete ones."
    )
    names = continuous_models()
    with gr.Row():
        with gr.Column(**CONTROLS):
            model = gr.Dropdown(names, value=first_of(names, "spiral-mlp"), label="Gaussian or flow model",
                                elem_id="nll-model", allow_custom_value=True)  # fmt: skip
            n = gr.Slider(1, MAX_NLL_POINTS, 500, step=1, label="Items scored", elem_id="nll-n")
            steps = gr.Slider(2, MAX_NLL_STEPS, 50, step=1, label="ODE steps (Heun)", elem_id="nll-steps")
            probes = gr.Slider(1, MAX_PROBES, 1, step=1, label="Hutchinson probes (digits)", elem_id="nll-probes")
            seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="nll-seed")
            run = gr.Button("Compute the likelihood", variant="primary", elem_id="nll-run")
        with gr.Column(scale=3):
            info = gr.Markdown("Press **Compute the likelihood**.", elem_id="nll-info")
            plot = result_plot("the model's density", "nll-plot", "Press Compute the likelihood", 440)
            digits = picture(label="the most and the least likely digits", elem_id="nll-picture", visible=False)
    model.change(lambda m: count_update(m, *NLL_COUNTS), model, n, api_visibility="private")
    run.click(gpu_call(bind(on_nll, state)), [model, n, steps, probes, seed], [info, plot, digits], api_name="nll",
              **sampling_queue())  # fmt: skip
    return model


PICKERS = ((point_models, "spiral-mlp"), (all_models, "digits-unet"), (continuous_models, "spiral-mlp"))


def refresh_models(*current: str | None) -> tuple[Any, ...]:
    """The three pickers with the registry as it is now (keeping each current choice)."""
    updates = []
    for value, (names_of, preferred) in zip(current, PICKERS, strict=True):
        names = names_of()
        updates.append(gr.update(choices=names, value=value if value in names else first_of(names, preferred)))
    return tuple(updates)


def build(state: AppState) -> list[Any]:
    """Lay out the tab's three parts, each its own sub-tab; returns their model pickers (as PICKERS)."""
    with gr.Tabs():
        with gr.Tab("Score field", id="score-field"):
            field = build_field(state)
        with gr.Tab("ELBO", id="score-elbo"):
            elbo = build_elbo(state)
        with gr.Tab("Exact likelihood", id="score-nll"):
            nll = build_nll(state)
    return [field, elbo, nll]
