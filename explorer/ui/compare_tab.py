"""The Sampler comparison tab: one model, one x_T, two to four samplers side by side.

Layout and wiring only; every number comes from explorer.runs.compare.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from explorer.core.guidance import conditioning
from explorer.evaluation.quality import metric_floor, metric_for
from explorer.evaluation.sample_report import FD_N
from explorer.limits import MAX_GIF_FPS, MAX_GIF_FRAMES, MAX_GIF_SIZE, MAX_T, MIN_GIF_SIZE, check_int
from explorer.runs.compare import (
    DEFAULT_ROWS,
    FLOW_ROWS,
    MAX_COMPARE_POINTS,
    MAX_CONFIGS,
    CompareSettings,
    Comparison,
    clip_bound,
    curve_label,
    row_settings,
    row_spacing,
    run_comparison,
    score_comparison,
    table,
    visited_timesteps,
)
from explorer.runs.curves import curves_csv, quality_curve, stored_curve
from explorer.runs.store import RunKey
from explorer.sampling.registry import DEFAULT_SPACING, SAMPLER_LABELS, VP_ONLY, SamplerSettings, starts_at_prior
from explorer.sampling.spacings import SPACINGS
from explorer.sampling.tuning import TUNED
from explorer.serve.state import AppState
from explorer.store.registry import load_model
from explorer.ui import conditioning as cond_ui
from explorer.ui.common import (
    bind,
    export_outputs,
    export_result,
    gpu_call,
    new_output_path,
    output_file,
    picture,
    plot_value,
    result_plot,
    sampling_queue,
    user_errors,
)
from explorer.ui.player import player
from explorer.ui.reverse_tab import count_slider, default_model, model_choices, model_kind, score_visibility
from explorer.ui.scoring import SCORE_HEADERS, SCORE_HINT, floor_line, score_controls, score_table
from explorer.viz import figures
from explorer.viz.animations import compare_animation
from explorer.viz.export import export_suffix, write_animation
from explorer.viz.panels import side_by_side
from explorer.viz.playback import compare_payload

SAMPLER_CHOICES = [(label, name) for name, label in SAMPLER_LABELS.items()]
FIELDS = 5  # per configuration row
ROW_WIDTH = 1280  # the side-by-side image's width in pixels, shared by the panels
CURVE_PROGRESS = gr.Progress()
MAX_GIF_PANEL = MAX_GIF_SIZE // MAX_CONFIGS

TABLE_HEADERS = ["sampler", "S", "spacing", "η", "NFE", "ms", "quality", "class prec."]  # short: one line each
ETA_COLUMN, QUALITY_COLUMN, PRECISION_COLUMN = 3, 6, 7


def results_table(comparison: Any) -> dict[str, Any]:
    """The results with the columns that apply: η only beside a DDIM row, the class precision only
    for a run steered to a class; the quality header says which way is better."""
    rows = table(comparison)
    headers = list(TABLE_HEADERS)
    headers[QUALITY_COLUMN] = f"quality {'↑' if comparison.metric.higher_is_better else '↓'}"
    dropped = {ETA_COLUMN} if all(row[ETA_COLUMN] == "" for row in rows) else set()
    if all(row[PRECISION_COLUMN] == "" for row in rows):
        dropped.add(PRECISION_COLUMN)
    keep = [i for i in range(len(headers)) if i not in dropped]
    return {"headers": [headers[i] for i in keep], "data": [[row[i] for i in keep] for row in rows]}


def parse_rows(model: str | None, rows: tuple[Any, ...], clip: bool) -> tuple[SamplerSettings, ...]:
    """The enabled configuration rows as SamplerSettings (the core checks their values)."""
    if not model:
        raise ValueError("choose a model first (train one in the Train tab, or use a shipped one)")
    bound = clip_bound(model) if clip else None
    configs = []
    for i in range(0, len(rows), FIELDS):
        enabled, name, steps, spacing, eta = rows[i : i + FIELDS]
        if enabled:
            steps = check_int(f"steps (config {i // FIELDS + 1})", steps, 1, MAX_T)
            configs.append(row_settings(model, name, steps, spacing, eta, bound))
    return tuple(configs)


def make_settings(model: str | None, n: float, seed: float, clip: bool, label: Any, w: Any,
                  *rows: Any) -> CompareSettings:  # fmt: skip
    return CompareSettings(model=model or "", configs=parse_rows(model, rows, clip), n=n,
                                   seed=0 if seed is None else seed, cond=conditioning(label, w))  # fmt: skip


def frame(comparison: Comparison, percent: float, estimate: bool) -> Any:
    size = min(420, ROW_WIDTH // len(comparison.runs))
    return side_by_side(comparison, (percent or 0) / 100, size, estimate)


def summary(comparison: Comparison) -> str:
    cond = comparison.settings.cond
    steered = "" if cond.label is None else f" · {cond.caption(comparison.classes)} for every sampler"
    start = (f"every run starts from the same x_T (seed {comparison.settings.seed}){steered}; ms: each sampler's "
             "wall time, recording included, when this comparison was made (the same settings again are read "
             "back, not re-timed)")  # fmt: skip
    if comparison.kind == "image":  # a run's 64 images at most are too few for FD
        return f"{start} · {SCORE_HINT}"
    better = "higher" if comparison.metric.higher_is_better else "lower"
    best = (max if comparison.metric.higher_is_better else min)(comparison.runs, key=lambda r: r.quality)
    return (f"**{comparison.metric.name}** ({better} is better) · best: {best.settings.label()} "
            f"({best.quality:.3g} with {best.nfe} model evaluations) · {start}")  # fmt: skip


@user_errors
def on_score(model, n, seed, clip, label, w, *rows) -> tuple[Any, Any]:
    """FD, precision and recall of FD_N samples for each enabled configuration (heavy: sampling group)."""
    runs = score_comparison(make_settings(model, n, seed, clip, label, w, *rows))
    return gr.update(value=score_table(runs), visible=True), floor_line(runs)


def record(state: AppState, model, n, seed, clip, label, w, *rows) -> tuple[RunKey, Comparison]:
    """Run every configuration (or reuse the recorded comparison): heavy endpoints only."""
    settings = make_settings(model, n, seed, clip, label, w, *rows)
    return state.record("compare", settings, lambda: run_comparison(settings))


@user_errors
def on_run(state: AppState, model, n, seed, clip, label, w, percent, estimate, *rows) -> tuple[Any, ...]:
    key, comparison = record(state, model, n, seed, clip, label, w, *rows)
    rows_out = results_table(comparison)
    return (key, compare_payload(comparison), gr.update(value=100), frame(comparison, 100, estimate), rows_out,
            summary(comparison), timesteps_plot(model, clip, *rows))  # fmt: skip


@user_errors
def on_frame(state: AppState, key: RunKey | None, percent: float, estimate: bool) -> Any:
    """The recorded runs at this fraction of their trajectories (never samples)."""
    return frame(state.runs.require(key), percent, estimate)


@user_errors
def on_estimate(state: AppState, key: RunKey | None, percent: float, estimate: bool) -> Any:
    """Switch between x_t and x0_hat; before any run there is nothing to redraw."""
    return gr.skip() if key is None else frame(state.runs.require(key), percent, estimate)


def timesteps_plot(model, clip, *rows) -> Any:
    configs = parse_rows(model, rows, clip)
    visits = {f"{i + 1}: {c.label()}": visited_timesteps(c, model) for i, c in enumerate(configs)}
    _, schedule = load_model(model)
    return plot_value(figures.timesteps_figure(schedule.log_snr.numpy(), visits))


@user_errors
def on_timesteps(model, clip, *rows) -> Any:
    return timesteps_plot(model, clip, *rows)


@user_errors
def on_curve(progress: Any = CURVE_PROGRESS, *inputs: Any) -> tuple[Any, ...]:
    """Quality against NFE for every enabled configuration (Gradio passes the progress tracker first)."""
    model, clip, label, w, *rows = inputs
    configs = parse_rows(model, tuple(rows), clip)
    cond = conditioning(label, w)
    if not configs:
        raise ValueError("enable at least one configuration")
    curves = {}
    for i, config in enumerate(configs):

        def report(fraction: float, text: str, i: int = i) -> None:
            progress((i + fraction) / len(configs), desc=text)

        curves[curve_label(config)] = quality_curve(model, config, report, cond)
    return curves_outputs(model, curves)


def curves_outputs(model: str, curves: dict[str, list[Any]]) -> tuple[Any, Any]:
    """The quality-against-NFE figure of `curves` and its CSV's download button."""
    loaded, _ = load_model(model)
    metric = metric_for(loaded.dataset)
    fig = figures.nfe_figure({k: ([p.nfe for p in v], [p.quality for p in v]) for k, v in curves.items()}, metric.name,
                             log_y=True if metric.log_axis else None, floor=metric_floor(loaded.dataset))  # fmt: skip
    path = output_file("quality-vs-nfe", ".csv", curves_csv(model, curves, metric))
    return plot_value(fig), gr.update(value=str(path), visible=True)


def on_curves_shown(model, clip, label, w, *rows) -> tuple[Any, Any]:
    """Opening the curves: drawn at once where every enabled row's curve is shipped or cached (reading,
    never sampling); else the panel says how many are ready and what to press."""
    try:
        configs, cond = parse_rows(model, tuple(rows), clip), conditioning(label, w)
        found = {curve_label(c): stored_curve(model, c, cond) for c in configs}
    except ValueError:  # rows Run would refuse: the button's press words the error
        return gr.skip(), gr.skip()
    if found and all(curve is not None for curve in found.values()):
        return curves_outputs(model, found)
    ready = sum(curve is not None for curve in found.values())
    waiting = (f"{ready} of {len(found)} enabled samplers' curves are ready for this model: press Compute the curves "
               "(each missing one samples its whole ladder once, then is kept)")  # fmt: skip
    return plot_value(figures.waiting_figure("quality against NFE", waiting, 340)), gr.update(visible=False)


@user_errors
def on_export(state: AppState, model, n, seed, clip, label, w, n_frames, fps, size, fmt, *rows) -> tuple[Any, ...]:
    _, comparison = record(state, model, n, seed, clip, label, w, *rows)
    path = new_output_path("compare", export_suffix(fmt))
    return export_result(write_animation(compare_animation(comparison, n_frames, size), path, fps))


def on_sampler(name: str) -> tuple[Any, Any, Any]:
    """A sampler's usual spacing and step count when it is picked; η is DDIM's alone to set."""
    steps = 1000 if name == "ddpm" else 15 if name == "dpmpp2m" else 50
    return gr.update(value=DEFAULT_SPACING.get(name, "leading")), gr.update(value=steps), eta_update(name)


def eta_update(name: str) -> Any:
    """The η slider for a row's sampler: DDIM's to set; DDPM is η = 1 by definition, the others have none."""
    return gr.update(interactive=name == "ddim", label="η" if name == "ddim" else "η (DDIM only)")


COMPARE_MODEL = "spiral-ve"  # its UniPC reaches DDPM-1000's picture in 10 calls (benchmarks/fewstep.py)


def compare_default() -> str | None:
    names = model_choices()
    return COMPARE_MODEL if COMPARE_MODEL in names else default_model()


def on_model(model: str | None, *rows: Any) -> tuple[Any, ...]:
    """The sample-count slider for the model's kind, and each row's (sampler, steps, spacing) made valid
    for the model: on a rectified-flow model the first two rows move from DDPM/DDIM (variance-preserving
    only) to Euler and Heun; on a VE model their spacing becomes trailing where it would start below
    t = T (registry.starts_at_prior); a "tuned" row becomes the sampler's usual spacing where the model
    has no tuned timesteps for it (compare.row_spacing)."""
    try:
        schedule = load_model(model)[1] if model else None
    except ValueError:
        schedule = None
    kind = schedule.kind if schedule is not None else None
    updates = []
    for i in range(len(rows) // FIELDS):
        name, steps, spacing = rows[i * FIELDS + 1 : i * FIELDS + 4]
        row = {}
        if kind == "flow" and i < len(FLOW_ROWS) and name in VP_ONLY:
            name, steps, spacing = FLOW_ROWS[i]
            row = {"sampler": name, "steps": steps, "spacing": spacing}
        try:
            if kind == "ve" and i < 2 and spacing != TUNED and not starts_at_prior(schedule, int(steps), spacing):
                row["spacing"] = "trailing"
            fitted = row_spacing(model, name, int(steps), spacing) if schedule is not None else spacing
            if fitted != spacing:
                row["spacing"] = fitted
        except (TypeError, ValueError):  # a bad step count or spacing: Run says what is wrong
            pass
        updates += [gr.update(value=row[field]) if field in row else gr.update()
                    for field in ("sampler", "steps", "spacing")]  # fmt: skip
        updates.append(eta_update(name))  # a row moved to Euler or Heun has no η
    return (count_slider(model_kind(model), MAX_COMPARE_POINTS), *updates, *score_visibility(model_kind(model)))


def build(state: AppState) -> dict:
    """Lay out the Sampler comparison tab and wire its events; returns its model picker."""
    gr.Markdown(
        "The same model and the same starting noise x_T, sampled by two to four methods. DDPM needs its 1000 "
        "small stochastic steps; DDIM and the ODE solvers follow the probability-flow ODE with far fewer model "
        "evaluations (NFE). Euler on that ODE, in σ = √(1−ᾱ)/√ᾱ coordinates, *is* DDIM with η = 0."
    )
    with gr.Row(equal_height=True):
        model = gr.Dropdown(model_choices(), value=compare_default(), label="Model", elem_id="cmp-model",
                            allow_custom_value=True, scale=2)  # fmt: skip
        n = gr.Slider(1, MAX_COMPARE_POINTS, 1000, step=1, label="Samples", elem_id="cmp-n", scale=2)
        seed = gr.Number(0, precision=0, minimum=0, label="Seed (one x_T for all)", elem_id="cmp-seed", scale=1)
        clip = gr.Checkbox(True, label="Clip x̂₀ to the data range at every step", elem_id="cmp-clip", scale=1)
    with gr.Row(equal_height=True):
        label, w = cond_ui.controls("cmp")
    rows: list[Any] = []
    with gr.Row():
        for i, (enabled, name, steps, spacing, eta) in enumerate(DEFAULT_ROWS):
            with gr.Column(min_width=220), gr.Group():
                use = gr.Checkbox(enabled, label=f"Config {i + 1}", elem_id=f"cmp-use-{i}")
                sampler = gr.Dropdown(SAMPLER_CHOICES, value=name, label="Sampler", elem_id=f"cmp-sampler-{i}")
                with gr.Row():
                    steps_box = gr.Number(steps, precision=0, minimum=1, label="Steps S", elem_id=f"cmp-steps-{i}",
                                          min_width=80)  # fmt: skip
                    spacing_box = gr.Dropdown([*SPACINGS, TUNED], value=spacing, label="Spacing",
                                              elem_id=f"cmp-spacing-{i}", min_width=100)  # fmt: skip
                eta_box = gr.Slider(0, 1, eta, step=0.05, label="η" if name == "ddim" else "η (DDIM only)",
                                    interactive=name == "ddim", elem_id=f"cmp-eta-{i}")  # fmt: skip
            sampler.input(on_sampler, sampler, [spacing_box, steps_box, eta_box], api_visibility="private")
            rows += [use, sampler, steps_box, spacing_box, eta_box]
    run = gr.Button("Run side by side", variant="primary", elem_id="cmp-run")
    gr.Markdown(
        "**Play every configuration side by side in your browser**, synchronised by the fraction of "
        "each trajectory (space plays and pauses, the arrows step); a colour marks the same x_T in "
        "every panel."
    )
    playback = player("cmp-player", "Samplers side by side", "Run side by side")
    with gr.Row(equal_height=True):
        percent = gr.Slider(0, 100, 100, step=1, label="Progress through each trajectory (%)",
                            elem_id="cmp-progress", scale=5)  # fmt: skip
        estimate = gr.Checkbox(False, label="Show x̂₀ instead of x_t", elem_id="cmp-estimate", scale=1)
    panels = picture(label="Side by side", elem_id="cmp-panels")
    with gr.Row():
        with gr.Column(scale=1):
            info = gr.Markdown(elem_id="cmp-info")
            results = gr.Dataframe(headers=TABLE_HEADERS, label="Results", elem_id="cmp-table",
                                   interactive=False)  # fmt: skip
            score, score_info = score_controls("cmp", model_kind(compare_default()) == "image")
            scores = gr.Dataframe(headers=SCORE_HEADERS, label=f"Scores at n = {FD_N}", elem_id="cmp-scores",
                                  interactive=False, visible=False)  # fmt: skip
        with gr.Column(scale=1):
            diagnostic = gr.Plot(
                show_label=False, label="timesteps each sampler visits, on the log-SNR curve", elem_id="cmp-timesteps"
            )
    curves_title = "Quality against NFE (steps 5 to 1000; shipped with every model, computed once for a new one)"
    with gr.Accordion(curves_title, open=False) as curves_box:
        curve_button = gr.Button("Compute the curves for the enabled samplers", elem_id="cmp-curve-run")
        curve = result_plot("quality against NFE", "cmp-curve", "Press Compute the curves", 340)
        csv = gr.DownloadButton("Download the table (CSV)", visible=False, elem_id="cmp-csv")
    with gr.Accordion("Export (GIF or MP4)", open=False):
        with gr.Row():
            n_frames = gr.Slider(2, MAX_GIF_FRAMES, 40, step=1, label="Frames", elem_id="cmp-gif-frames")
            fps = gr.Slider(1, MAX_GIF_FPS, 12, step=1, label="Frames per second")
            size = gr.Slider(MIN_GIF_SIZE, MAX_GIF_PANEL, 200, step=8, label="Panel size (px)")
        export, fmt, exported = export_outputs("cmp", "Side by side")

    settings = [model, n, seed, clip, label, w]
    hidden = dict(show_progress="hidden", trigger_mode="always_last")
    run_key = gr.State(None)  # this session's recorded comparison, by its key in state.runs
    run.click(gpu_call(bind(on_run, state)), [*settings, percent, estimate, *rows],
              [run_key, playback, percent, panels, results, info, diagnostic], api_name="compare_run",
              **sampling_queue())  # fmt: skip
    percent.input(bind(on_frame, state), [run_key, percent, estimate], panels, api_name="compare_frame", **hidden)
    estimate.change(bind(on_estimate, state), [run_key, percent, estimate], panels, api_visibility="private",
                    **hidden)  # fmt: skip
    for component in [clip, *rows]:
        component.change(on_timesteps, [model, clip, *rows], diagnostic, api_visibility="private", **hidden)
    row_fields = [c for i in range(len(DEFAULT_ROWS)) for c in rows[i * FIELDS + 1 : i * FIELDS + 5]]  # sampler to η
    # the plot follows a model change once the rows fit the new model (a tuned row may fall back first)
    model.change(on_model, [model, *rows], [n, *row_fields, score, score_info], api_visibility="private").then(
        on_timesteps, [model, clip, *rows], diagnostic, api_visibility="private", **hidden
    ).then(on_curves_shown, [model, clip, label, w, *rows], [curve, csv], api_visibility="private", **hidden)
    model.change(lambda: gr.update(visible=False), None, scores, api_visibility="private")  # scores of another model
    score.click(gpu_call(on_score), [*settings, *rows], [scores, score_info], api_name="compare_score",
                **sampling_queue())  # fmt: skip
    model.change(cond_ui.on_model, [model, label], [label, w], api_visibility="private")
    curve_button.click(
        gpu_call(on_curve), [model, clip, label, w, *rows], [curve, csv], api_name="compare_curve", **sampling_queue()
    )
    curves_box.expand(on_curves_shown, [model, clip, label, w, *rows], [curve, csv], api_visibility="private")
    for component in [clip, label, w, *rows]:  # the curves follow the rows: shipped or cached ones, never sampled
        component.change(on_curves_shown, [model, clip, label, w, *rows], [curve, csv], api_visibility="private",
                         **hidden)  # fmt: skip
    export.click(
        gpu_call(bind(on_export, state)),
        [*settings, n_frames, fps, size, fmt, *rows],
        exported,
        api_name="compare_gif",
        **sampling_queue(),
    )
    return dict(model=model, timesteps=dict(fn=on_timesteps, inputs=[model, clip, *rows], outputs=diagnostic))
