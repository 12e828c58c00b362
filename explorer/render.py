"""Plotly figures: point clouds on fixed axes, schedule curves, histograms.

Only drawing lives here; the numbers come from the core (schedules, gaussian, forward).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.schedules import NoiseSchedule

VIRIDIS = "Viridis"
SCHEDULE_COLORS = ["#4f46e5", "#e11d48", "#059669", "#d97706", "#0891b2", "#7c3aed"]
LOG_SNR_DISPLAY_MIN = -25.0  # -inf (zero terminal SNR) is drawn at this floor
_MARGIN = dict(l=48, r=16, t=40, b=40)


def points_figure(x: np.ndarray, color: np.ndarray, lim: float, title: str) -> go.Figure:
    """A WebGL scatter of (N, 2) points on fixed square axes [-lim, lim]^2."""
    fig = go.Figure(
        go.Scattergl(
            x=x[:, 0],
            y=x[:, 1],
            mode="markers",
            marker=dict(size=3, color=color, colorscale=VIRIDIS, cmin=0, cmax=1, opacity=0.75),
            hoverinfo="skip",
        )
    )
    axis = dict(range=[-lim, lim], zeroline=True, showgrid=True, fixedrange=True, constrain="domain")
    fig.update_layout(
        title=dict(text=title, x=0.02),
        xaxis=axis,
        yaxis=dict(axis, scaleanchor="x", scaleratio=1),
        height=460,
        margin=_MARGIN,
        template="plotly_white",
        uirevision="points",
    )
    return fig


def _display_log_snr(schedule: NoiseSchedule) -> np.ndarray:
    return np.maximum(schedule.log_snr.numpy(), LOG_SNR_DISPLAY_MIN)


def schedule_figure(schedules: list[NoiseSchedule], step: int) -> go.Figure:
    """sqrt(alpha_bar) (signal), sqrt(1 - alpha_bar) (noise) and log-SNR against the
    paper's t = 1..T for each schedule; the first schedule gets a marker at `step`."""
    fig = go.Figure()
    for i, schedule in enumerate(schedules):
        t = np.arange(1, schedule.T + 1)
        color = SCHEDULE_COLORS[i % len(SCHEDULE_COLORS)]
        curves = [
            ("√ᾱ", schedule.sqrt_alpha_bar.numpy(), "solid", "y"),
            ("√(1−ᾱ)", schedule.sqrt_one_minus_alpha_bar.numpy(), "dash", "y"),
            ("log-SNR", _display_log_snr(schedule), "dot", "y2"),
        ]
        for j, (label, values, dash, axis) in enumerate(curves):
            fig.add_trace(
                go.Scatter(
                    x=t, y=values, name=schedule.name, yaxis=axis, showlegend=j == 0,
                    line=dict(color=color, dash=dash, width=2 if i == 0 else 1.5),
                    legendgroup=schedule.name, hovertemplate=f"{schedule.name} {label}<br>t=%{{x}}: %{{y:.3f}}",
                )
            )  # fmt: skip
    main = schedules[0]
    if step > 0:
        index = step - 1
        marker_y = [float(main.sqrt_alpha_bar[index]), float(main.sqrt_one_minus_alpha_bar[index])]
        fig.add_trace(
            go.Scatter(
                x=[step, step], y=marker_y, mode="markers", name=f"t = {step}", showlegend=False,
                marker=dict(size=11, color="#111827", symbol="circle-open", line=dict(width=2)),
            )
        )  # fmt: skip
    fig.add_vline(x=max(step, 0.5), line=dict(color="#9ca3af", width=1))
    fig.update_layout(
        title=dict(text="solid √ᾱ (signal) · dashed √(1−ᾱ) (noise) · dotted log-SNR", x=0.02, font=dict(size=13)),
        xaxis=dict(title="t", range=[0, main.T]),
        yaxis=dict(title="scale", range=[0, 1.02]),
        yaxis2=dict(title="log-SNR", overlaying="y", side="right", showgrid=False),
        height=340,
        margin=dict(_MARGIN, r=56),
        legend=dict(orientation="h", y=-0.22),
        template="plotly_white",
        uirevision="schedule",
    )
    return fig


def histogram_figure(
    edges: np.ndarray,
    density: np.ndarray,
    grid: np.ndarray,
    exact: np.ndarray | None,
    standard: np.ndarray,
    title: str,
) -> go.Figure:
    """A density histogram (bin edges and heights) with the exact q(x_t) density, when
    defined, and the N(0, 1) density drawn over it. The y axis follows the histogram, so
    the exact density's narrow peaks at small t run off the top instead of flattening it."""
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(
        go.Bar(
            x=centres, y=density, width=float(edges[1] - edges[0]), name="samples",
            marker_color="#a5b4fc", hoverinfo="skip",
        )
    )  # fmt: skip
    if exact is not None:
        fig.add_trace(go.Scatter(x=grid, y=exact, name="exact q(x_t)", line=dict(color="#4f46e5")))
    fig.add_trace(go.Scatter(x=grid, y=standard, name="N(0, 1)", line=dict(color="#e11d48", dash="dash")))
    top = 1.2 * max(float(density.max()), float(standard.max()))
    fig.update_layout(
        title=dict(text=title, x=0.02),
        xaxis=dict(range=[float(grid[0]), float(grid[-1])]),
        yaxis=dict(title="density", range=[0, top]),
        height=300,
        margin=_MARGIN,
        bargap=0,
        legend=dict(orientation="h", y=-0.2),
        template="plotly_white",
        uirevision="hist",
    )
    return fig
