"""Plotly figures as plain figure dicts: point clouds on fixed axes, schedule curves,
histograms.

Figures are built as dicts, not plotly.graph_objects: validating graph objects costs
7-20 ms a figure, most of a slider update's budget. Large arrays go out in plotly.js's
typed-array form ({"dtype", "bdata"}), which is compact and decoded in the browser.
`to_json` serialises a figure; `go.Figure(fig)` still accepts every dict made here.
Only drawing lives here; the numbers come from the core.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
from plotly.io.json import to_json_plotly

from explorer.core.schedules import NoiseSchedule

Figure = dict[str, Any]


VIRIDIS = "Viridis"


# one colour a process: the Forward tab can overlay all of them
SCHEDULE_COLORS = ["#4f46e5", "#e11d48", "#059669", "#d97706", "#0891b2", "#7c3aed", "#db2777", "#65a30d", "#0f766e"]
NOISE_COLOR = "#6b7280"


LOG_SNR_DISPLAY_MIN = -25.0  # -inf (zero terminal SNR) is drawn at this floor


_MARGIN = dict(l=48, r=16, t=40, b=40)


_TEMPLATE_LAYOUT = dict(
    paper_bgcolor="white",
    plot_bgcolor="white",
    font=dict(family="Inter, system-ui, sans-serif", size=12, color="#1f2937"),
)


AXIS = dict(gridcolor="#ebeef3", zerolinecolor="#d1d5db", linecolor="#d1d5db")


def typed(values: np.ndarray) -> dict[str, str]:
    """A 1-D array in plotly.js's typed-array form (float32, base64)."""
    data = np.ascontiguousarray(values, dtype=np.float32)
    return {"dtype": "f4", "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def to_json(fig: Figure) -> str:
    """The figure as the JSON string plotly.js (and gr.Plot) reads."""
    return to_json_plotly(fig)


def base_layout(title: str, height: int, **extra: Any) -> dict[str, Any]:
    return dict(_TEMPLATE_LAYOUT, title=dict(text=title, x=0.02), height=height, margin=_MARGIN, **extra)


def points_figure(
    x: np.ndarray,
    color: np.ndarray,
    lim: float,
    title: str,
    paths: np.ndarray | None = None,
    overlay: np.ndarray | None = None,
    overlay_name: str = "",
    height: int = 460,
) -> Figure:
    """A WebGL scatter of (N, 2) points on fixed square axes [-lim, lim]^2, optionally with
    the paths (P, K, 2) of a few points drawn as lines and a second point set overlaid."""
    traces = []
    if overlay is not None:  # beneath the samples, so both stay visible where they coincide
        marker = dict(size=4, color="#fda4af", opacity=0.7)
        traces.append(dict(type="scattergl", x=typed(overlay[:, 0]), y=typed(overlay[:, 1]), mode="markers",
                           name=overlay_name, hoverinfo="skip", marker=marker))  # fmt: skip
    traces.append(
        dict(
            type="scattergl", x=typed(x[:, 0]), y=typed(x[:, 1]), mode="markers", hoverinfo="skip", name="samples",
            marker=dict(size=3, color=typed(color), colorscale=VIRIDIS, cmin=0, cmax=1, opacity=0.75),
            showlegend=False,
        )
    )  # fmt: skip
    for i, path in enumerate(paths if paths is not None else []):
        traces.append(dict(type="scatter", x=typed(path[:, 0]), y=typed(path[:, 1]), mode="lines", hoverinfo="skip",
                           line=dict(color="#111827", width=1), opacity=0.35, name="paths", showlegend=i == 0,
                           legendgroup="paths"))  # fmt: skip
    axis = dict(AXIS, range=[-lim, lim], fixedrange=True, constrain="domain")
    layout = base_layout(
        title, height, xaxis=axis, yaxis=dict(axis, scaleanchor="x", scaleratio=1), uirevision="points",
        legend=dict(orientation="h", y=-0.08),
    )  # fmt: skip
    return {"data": traces, "layout": layout}


def waiting_figure(title: str, message: str, height: int = 300) -> Figure:
    """An empty panel that says what to press to fill it (its axes hidden: there is nothing to read yet)."""
    hidden = dict(visible=False)
    note = dict(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                font=dict(size=14, color="#6b7280"))  # fmt: skip
    return {"data": [], "layout": base_layout(title, height, xaxis=hidden, yaxis=hidden, annotations=[note])}


def curves_figure(
    x: np.ndarray,
    curves: dict[str, np.ndarray],
    title: str,
    x_title: str,
    y_title: str,
    marker_x: float | None = None,
    reversed_x: bool = False,
    height: int = 300,
) -> Figure:
    """Line curves sharing one x axis, with an optional vertical cursor at marker_x."""
    traces = []
    for i, (name, y) in enumerate(curves.items()):
        line = dict(color=SCHEDULE_COLORS[i % len(SCHEDULE_COLORS)], dash="dash" if i else "solid")
        traces.append(dict(type="scatter", mode="lines", x=typed(x), y=typed(y), name=name, line=line))
    shapes = []
    if marker_x is not None:
        shapes.append(dict(type="line", x0=marker_x, x1=marker_x, y0=0, y1=1, yref="paper",
                           line=dict(color="#9ca3af", width=1)))  # fmt: skip
    xaxis = dict(AXIS, title=dict(text=x_title), autorange="reversed" if reversed_x else True)
    layout = base_layout(title, height, xaxis=xaxis, yaxis=dict(AXIS, title=dict(text=y_title), rangemode="tozero"),
                     shapes=shapes, legend=dict(orientation="h", y=-0.25), uirevision=title)  # fmt: skip
    return {"data": traces, "layout": layout}


def _display_log_snr(schedule: NoiseSchedule) -> np.ndarray:
    return np.maximum(schedule.log_snr.numpy(), LOG_SNR_DISPLAY_MIN)


def schedule_figure(schedules: list[NoiseSchedule], step: int) -> Figure:
    """The signal a_t and noise s_t of x_t = a_t x0 + s_t eps (sqrt(alpha_bar) and sqrt(1 - alpha_bar) for VP)
    and the log-SNR against the paper's t = 1..T for each schedule; the first gets a marker at `step`."""
    traces = []
    for i, schedule in enumerate(schedules):
        t = typed(np.arange(1, schedule.T + 1))
        color = SCHEDULE_COLORS[i % len(SCHEDULE_COLORS)]
        curves = [
            ("a_t", schedule.sqrt_alpha_bar.numpy(), "solid", "y"),
            ("s_t", schedule.sqrt_one_minus_alpha_bar.numpy(), "dash", "y"),
            ("log-SNR", _display_log_snr(schedule), "dot", "y2"),
        ]
        for j, (label, values, dash, axis) in enumerate(curves):
            traces.append(
                dict(
                    type="scatter", x=t, y=typed(values), name=schedule.name, yaxis=axis, showlegend=j == 0,
                    mode="lines", line=dict(color=color, dash=dash, width=2 if i == 0 else 1.5),
                    legendgroup=schedule.name, hovertemplate=f"{schedule.name} {label}<br>t=%{{x}}: %{{y:.3f}}",
                )
            )  # fmt: skip
    main = schedules[0]
    if step > 0:
        index = step - 1
        marker_y = [float(main.sqrt_alpha_bar[index]), float(main.sqrt_one_minus_alpha_bar[index])]
        traces.append(
            dict(
                type="scatter", x=[step, step], y=marker_y, mode="markers", name=f"t = {step}", showlegend=False,
                marker=dict(size=11, color="#111827", symbol="circle-open", line=dict(width=2)),
            )
        )  # fmt: skip
    cursor = dict(type="line", x0=step, x1=step, y0=0, y1=1, yref="paper", line=dict(color="#9ca3af", width=1))
    top = 1.02 * max(1.0, *(float(s.sqrt_one_minus_alpha_bar.max()) for s in schedules))
    layout = base_layout(
        "signal a_t solid · noise s_t dashed · log-SNR dotted (x_t = a_t x₀ + s_t ε)",
        340,
        xaxis=dict(AXIS, title=dict(text="t"), range=[0, main.T]),
        yaxis=dict(AXIS, title=dict(text="scale"), range=[0, top]),
        yaxis2=dict(AXIS, title=dict(text="log-SNR"), overlaying="y", side="right", showgrid=False),
        legend=dict(orientation="h", y=-0.22),
        shapes=[cursor],
        uirevision="schedule",
    )
    layout["title"]["font"] = dict(size=13)
    layout["margin"] = dict(_MARGIN, r=56)
    return {"data": traces, "layout": layout}


def variance_figure(schedules: list[NoiseSchedule], data_variance: float, step: int) -> Figure:
    """Var(x_t) = a_t^2 Var(x0) + s_t^2 per coordinate against the paper's t (log scale), for data of
    variance `data_variance`: VE grows to Var(x0) + sigma_max^2, VP stays near 1, sub-VP stays below VP."""
    curves = {}
    for schedule in schedules:
        a, s = schedule.sqrt_alpha_bar.numpy(), schedule.sqrt_one_minus_alpha_bar.numpy()
        curves[schedule.name] = np.concatenate([[data_variance], a**2 * data_variance + s**2])
    figure = curves_figure(np.arange(schedules[0].T + 1), curves, f"Var(x_t) = a_t² Var(x₀) + s_t², Var(x₀) = "
                           f"{data_variance:.3g}", "t", "variance per coordinate", marker_x=step)  # fmt: skip
    values = np.concatenate(list(curves.values()))
    figure["layout"]["yaxis"] |= {"type": "log", "rangemode": "normal", **log_ticks(values)}
    return figure


def log_ticks(values: np.ndarray | list[float]) -> dict[str, Any]:
    """Labelled ticks for a log axis over `values`: 1, 2, 5 in each decade over up to three decades, the
    decades alone beyond, written as plain numbers (plotly's own mixes '2 5' minor labels with SI
    prefixes such as '100µ')."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return {}
    lo, hi = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    steps = (1, 2, 5) if hi - lo <= 3 else (1,)
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in steps]
    ticks = [t for t in ticks if v.min() / 1.5 <= t <= v.max() * 1.5]  # plotly pads the range a little
    return {"tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}


def histogram_figure(
    edges: np.ndarray,
    density: np.ndarray,
    grid: np.ndarray,
    exact: np.ndarray | None,
    standard: np.ndarray,
    title: str,
) -> Figure:
    """A density histogram (bin edges and heights) with the exact q(x_t) density, when
    defined, and the N(0, 1) density drawn over it. The y axis follows the histogram, so
    the exact density's narrow peaks at small t run off the top instead of flattening it."""
    centres = (edges[:-1] + edges[1:]) / 2
    traces = [
        dict(
            type="bar", x=typed(centres), y=typed(density), width=float(edges[1] - edges[0]), name="samples",
            marker=dict(color="#a5b4fc"), hoverinfo="skip",
        )
    ]  # fmt: skip
    if exact is not None:
        traces.append(dict(type="scatter", mode="lines", x=typed(grid), y=typed(exact), name="exact q(x_t)",
                           line=dict(color="#4f46e5")))  # fmt: skip
    traces.append(dict(type="scatter", mode="lines", x=typed(grid), y=typed(standard), name="N(0, 1)",
                       line=dict(color="#e11d48", dash="dash")))  # fmt: skip
    top = 1.2 * max(float(density.max()), float(standard.max()))
    layout = base_layout(
        title,
        300,
        xaxis=dict(AXIS, range=[float(grid[0]), float(grid[-1])]),
        yaxis=dict(AXIS, title=dict(text="density"), range=[0, top]),
        bargap=0,
        legend=dict(orientation="h", y=-0.2),
        uirevision="hist",
    )
    return {"data": traces, "layout": layout}


def timesteps_figure(log_snr: np.ndarray, visits: dict[str, list[int]], height: int = 360) -> Figure:
    """Where each sampler configuration calls the model: its timesteps (paper's t) drawn on
    the schedule's log-SNR curve (top) and as one rug row per configuration (bottom)."""
    T = len(log_snr)
    shown = np.maximum(log_snr, LOG_SNR_DISPLAY_MIN)
    traces = [dict(type="scatter", mode="lines", x=typed(np.arange(1, T + 1)), y=typed(shown), name="log-SNR",
                   line=dict(color="#9ca3af", width=2), hoverinfo="skip")]  # fmt: skip
    for i, (label, ts) in enumerate(visits.items()):
        color = SCHEDULE_COLORS[i % len(SCHEDULE_COLORS)]
        t = np.asarray(ts)
        traces.append(dict(type="scatter", mode="markers", x=t.tolist(), y=shown[t - 1].tolist(), name=label,
                           legendgroup=label, marker=dict(color=color, size=7 if len(t) <= 100 else 3,
                                                          symbol="circle-open"),
                           hovertemplate=f"{label}<br>t=%{{x}} log-SNR=%{{y:.2f}}<extra></extra>"))  # fmt: skip
        traces.append(dict(type="scatter", mode="markers", x=t.tolist(), y=[i] * len(t), yaxis="y2",
                           legendgroup=label, showlegend=False, hoverinfo="x",
                           marker=dict(color=color, size=10, symbol="line-ns-open", line=dict(width=1.5))))  # fmt: skip
    layout = base_layout(
        "Timesteps visited, on the log-SNR curve",
        height,
        xaxis=dict(AXIS, title=dict(text="t"), range=[0, T + 1], anchor="y2"),  # under the rug rows, not over them
        yaxis=dict(AXIS, title=dict(text="log-SNR"), domain=[0.4, 1.0]),
        yaxis2=dict(
            AXIS,
            domain=[0.0, 0.3],
            range=[-0.6, len(visits) - 0.4],
            tickvals=list(range(len(visits))),
            ticktext=[str(i + 1) for i in range(len(visits))],
            title=dict(text="config"),
        ),  # fmt: skip
        legend=dict(orientation="h", y=-0.22),
    )
    return {"data": traces, "layout": layout}


def log_curves_figure(
    curves: dict[str, tuple[list[float], list[float]]], title: str, x_title: str, y_title: str,
    log_x: bool = True, log_y: bool = False, height: int = 340,
) -> Figure:  # fmt: skip
    """Lines with markers over log axes where asked, one per named (x, y) series."""
    traces = []
    for i, (label, (x, y)) in enumerate(curves.items()):
        color = SCHEDULE_COLORS[i % len(SCHEDULE_COLORS)]
        traces.append(dict(type="scatter", mode="lines+markers", x=list(x), y=list(y), name=label,
                           line=dict(color=color), marker=dict(size=7),
                           hovertemplate=f"{label}<br>%{{x}}: %{{y:.4g}}<extra></extra>"))  # fmt: skip
    layout = base_layout(
        title,
        height,
        xaxis=dict(AXIS, title=dict(text=x_title), type="log" if log_x else "linear",
                   **(log_ticks([x for _, (xs, _) in curves.items() for x in xs]) if log_x else {})),
        yaxis=dict(AXIS, title=dict(text=y_title), type="log" if log_y else "linear",
                   **(log_ticks([y for _, (_, ys) in curves.items() for y in ys]) if log_y else {})),
        legend=dict(orientation="h", y=-0.25),
    )  # fmt: skip
    layout["margin"] = dict(_MARGIN, l=72)  # log ticks ("0.001", "1e-05") are wider: keep them off the axis title
    return {"data": traces, "layout": layout}


def nfe_figure(
    curves: dict[str, tuple[list[int], list[float]]], metric: str, height: int = 340, log_y: bool | None = None,
    floor: tuple[str, float] | None = None,
) -> Figure:  # fmt: skip
    """Quality against the number of model evaluations (log axis), one line per configuration; the
    quality on a log axis where asked, or (None) where its values are positive and span more than a
    decade. `floor` (name, value) draws what real data scores as a dashed line across the NFE range."""
    values = np.array([y for _, ys in curves.values() for y in ys], dtype=float)
    if log_y is None:
        log_y = values.size > 0 and bool((values > 0).all()) and values.max() > 10 * values.min()
    fig = log_curves_figure(curves, f"{metric} against model evaluations", "NFE (model evaluations)", metric,
                            log_y=log_y, height=height)  # fmt: skip
    nfes = [x for xs, _ in curves.values() for x in xs]
    if floor is not None and nfes:
        fig["data"].append(dict(type="scatter", mode="lines", x=[min(nfes), max(nfes)], y=[floor[1]] * 2,
                                name=floor[0], line=dict(color="#6b7280", dash="dash"),
                                hovertemplate=f"{floor[0]}: {floor[1]:.3g}<extra></extra>"))  # fmt: skip
    return fig


def interpolation_figure(cloud: np.ndarray, paths: dict[str, np.ndarray], lim: float, title: str) -> Figure:
    """Decoded interpolation paths (K, 2) drawn over a cloud of data points, both ends marked."""
    traces = [dict(type="scattergl", x=typed(cloud[:, 0]), y=typed(cloud[:, 1]), mode="markers", name="data",
                   hoverinfo="skip", marker=dict(size=3, color="#c7d2fe"))]  # fmt: skip
    for i, (name, path) in enumerate(paths.items()):
        color = SCHEDULE_COLORS[i % len(SCHEDULE_COLORS)]  # as in the latent-norm plot beside it
        traces.append(dict(type="scatter", x=typed(path[:, 0]), y=typed(path[:, 1]), mode="lines+markers", name=name,
                           line=dict(color=color, width=2), marker=dict(size=6)))  # fmt: skip
    ends = np.stack([next(iter(paths.values()))[0], next(iter(paths.values()))[-1]])
    traces.append(dict(type="scatter", x=ends[:, 0].tolist(), y=ends[:, 1].tolist(), mode="markers+text",
                       text=["A", "B"], textposition="top center", name="A and B", showlegend=False,
                       marker=dict(size=11, color="#111827", symbol="diamond")))  # fmt: skip
    axis = dict(AXIS, range=[-lim, lim], fixedrange=True, constrain="domain")
    layout = base_layout(title, 460, xaxis=axis, yaxis=dict(axis, scaleanchor="x", scaleratio=1),
                     legend=dict(orientation="h", y=-0.08))  # fmt: skip
    return {"data": traces, "layout": layout}


def heatmap_figure(matrix: np.ndarray, labels: list[str], title: str, height: int = 380) -> Figure:
    """A row-stochastic matrix as a heatmap: rows 'from', columns 'to', row 0 at the top."""
    trace = dict(type="heatmap", z=matrix.tolist(), x=labels, y=labels, colorscale=VIRIDIS, zmin=0, zmax=1,
                 hovertemplate="from %{y} to %{x}: %{z:.3f}<extra></extra>")  # fmt: skip
    layout = base_layout(title, height, xaxis=dict(AXIS, title=dict(text="to"), type="category"),
                     yaxis=dict(AXIS, title=dict(text="from"), type="category", autorange="reversed"))  # fmt: skip
    layout["margin"] = dict(_MARGIN, b=72)  # room for upright labels ("MASK") above the axis title
    return {"data": [trace], "layout": layout}


def bars_figure(labels: list[str], series: dict[str, np.ndarray], title: str, height: int = 300) -> Figure:
    """Grouped bars, one group per label, one bar per named series."""
    traces = [dict(type="bar", x=labels, y=np.asarray(values, dtype=float).tolist(), name=name,
                   marker=dict(color=SCHEDULE_COLORS[i % len(SCHEDULE_COLORS)]))
              for i, (name, values) in enumerate(series.items())]  # fmt: skip
    layout = base_layout(title, height, barmode="group", xaxis=dict(AXIS, type="category"),
                     yaxis=dict(AXIS, title=dict(text="probability"), rangemode="tozero"),
                     legend=dict(orientation="h", y=-0.25))  # fmt: skip
    return {"data": traces, "layout": layout}
