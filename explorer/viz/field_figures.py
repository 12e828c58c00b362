"""Plotly figures of fields and densities in the plane: the score as arrows over its weighted error,
beside the exact score; a model's log-density beside the data's histogram. Plain figure dicts, as in
viz.figures (whose layout and axis style they share)."""

from __future__ import annotations

import numpy as np

from explorer.viz.figures import AXIS, VIRIDIS, Figure, base_layout, typed

DENSITY_NATS = 12.0  # the log-density map shows this many nats below its peak

ERROR_COLORS = [[0, "#ffffff"], [0.25, "#fee8c8"], [0.6, "#fc8d59"], [1, "#b30000"]]  # white where q_t is nil
ARROW_REACH = 0.9  # a typical arrow spans this share of the grid spacing
ARROW_CLIP = 1.6  # ... and none more than this many typical lengths


def _arrow_trace(origins: np.ndarray, vectors: np.ndarray, scale: float, color: str, name: str,
                 axes: tuple[str, str], clip: float = np.inf) -> dict:  # fmt: skip
    """Segments origin -> origin + scale v (drawn no longer than `clip`), with a head at each tip."""
    length = np.linalg.norm(vectors, axis=1, keepdims=True)
    reach = np.minimum(length * scale, clip)
    tips = origins + vectors / np.maximum(length, 1e-12) * reach
    xs = np.stack([origins[:, 0], tips[:, 0], np.full(len(origins), np.nan)], 1).ravel()
    ys = np.stack([origins[:, 1], tips[:, 1], np.full(len(origins), np.nan)], 1).ravel()
    sizes = np.tile([0.0, 7.0, 0.0], len(origins))
    return dict(type="scatter", mode="lines+markers", x=typed(xs), y=typed(ys), name=name, hoverinfo="skip",
                line=dict(color=color, width=1.3), xaxis=axes[0], yaxis=axes[1],
                marker=dict(symbol="arrow", angleref="previous", size=typed(sizes), color=color))  # fmt: skip


def _panel_titles(*titles: tuple[str, float]) -> list[dict]:
    """Small captions above side-by-side panels, each centred at its x (paper coordinates)."""
    return [dict(text=text, x=x, y=1.0, xref="paper", yref="paper", showarrow=False, yanchor="bottom",
                 font=dict(size=12, color="#4b5563")) for text, x in titles]  # fmt: skip


def score_field_figure(
    grid: np.ndarray, learned: np.ndarray, exact: np.ndarray, axis: np.ndarray, weighted_error: np.ndarray,
    noisy: np.ndarray, tweedie: np.ndarray, data: np.ndarray, lim: float, title: str, height: int = 500,
) -> Figure:  # fmt: skip
    """Two square panels: the learned score as arrows over the density-weighted error q_t |s_theta - s*|,
    and the exact score as arrows over the data, with Tweedie's x0_hat drawn from a few noisy points.
    Both arrow sets share one scale (the exact field's median length spans ARROW_REACH cells)."""
    spacing = float(grid[1, 0] - grid[0, 0]) if len(grid) > 1 else 1.0
    typical = float(np.median(np.linalg.norm(exact, axis=1))) or 1.0
    scale = ARROW_REACH * spacing / typical
    heat = dict(type="heatmap", x=typed(axis), y=typed(axis), z=weighted_error.tolist(), colorscale=ERROR_COLORS,
                zmin=0, showscale=True, colorbar=dict(title=dict(text="q·|Δs|", side="right"), x=0.46, len=0.8,
                                                      thickness=10),
                hovertemplate="x %{x:.2f}, y %{y:.2f}: %{z:.3g}<extra>q_t |s_θ − s*|</extra>")  # fmt: skip
    cloud = dict(type="scattergl", x=typed(data[:, 0]), y=typed(data[:, 1]), mode="markers", name="training data",
                 hoverinfo="skip", marker=dict(size=3, color="#c7d2fe"), xaxis="x2", yaxis="y2")  # fmt: skip
    jumps = _arrow_trace(noisy, tweedie - noisy, 1.0, "#059669", "Tweedie x̂₀ from x_t", ("x2", "y2"))
    jumps["line"]["width"] = 2
    starts = dict(
        type="scatter",
        mode="markers",
        x=typed(noisy[:, 0]),
        y=typed(noisy[:, 1]),
        name="x_t",
        marker=dict(size=7, color="#059669", line=dict(color="white", width=1)),
        xaxis="x2",
        yaxis="y2",
    )
    clip = ARROW_CLIP * ARROW_REACH * spacing
    traces = [
        heat,
        _arrow_trace(grid, learned, scale, "#1e3a8a", "learned s_θ(x, t)", ("x", "y"), clip),
        cloud,
        _arrow_trace(grid, exact, scale, "#374151", "exact score s*(x, t)", ("x2", "y2"), clip),
        jumps,
        starts,
    ]
    axis_style = dict(AXIS, range=[-lim, lim], fixedrange=True, constrain="domain", showgrid=False)
    layout = base_layout(
        title, height, xaxis=dict(axis_style, domain=[0, 0.44]), yaxis=dict(axis_style, scaleanchor="x"),
        xaxis2=dict(axis_style, domain=[0.56, 1]), yaxis2=dict(axis_style, anchor="x2", scaleanchor="x2"),
        legend=dict(orientation="h", y=-0.1), uirevision="score-field",
        annotations=_panel_titles(("learned score over its weighted error", 0.2),
                                  ("exact score of the noised training set", 0.8)),
    )  # fmt: skip
    return {"data": traces, "layout": layout}


def density_pair_figure(axis: np.ndarray, log_model: np.ndarray, data: np.ndarray, title: str,
                        height: int = 440) -> Figure:  # fmt: skip
    """The model's log-density log p_theta (its top DENSITY_NATS nats: a thin density's ridge stays visible
    between grid points) beside the data's histogram on the same grid, each with its colour bar."""
    top = float(np.max(log_model))
    lim = [float(axis[0]), float(axis[-1])]
    axis_style = dict(AXIS, range=lim, fixedrange=True, constrain="domain", showgrid=False)
    model = dict(type="heatmap", x=typed(axis), y=typed(axis), z=np.maximum(log_model, top - DENSITY_NATS).tolist(),
                 colorscale=VIRIDIS, zmin=top - DENSITY_NATS, zmax=top, xaxis="x", yaxis="y",
                 colorbar=dict(title=dict(text="log p_θ", side="top"), thickness=10, len=0.8, x=0.44),
                 hovertemplate="x %{x:.2f}, y %{y:.2f}: log p %{z:.2f}<extra></extra>")  # fmt: skip
    counts = dict(type="heatmap", x=typed(axis), y=typed(axis), z=data.tolist(), colorscale=VIRIDIS, zmin=0,
                  xaxis="x2", yaxis="y2", colorbar=dict(title=dict(text="density", side="top"), thickness=10,
                                                        len=0.8, x=0.98),
                  hovertemplate="x %{x:.2f}, y %{y:.2f}: %{z:.3g}<extra>data</extra>")  # fmt: skip
    layout = base_layout(
        title, height, xaxis=dict(axis_style, domain=[0, 0.42]), yaxis=dict(axis_style, scaleanchor="x"),
        xaxis2=dict(axis_style, domain=[0.54, 0.96]), yaxis2=dict(axis_style, anchor="x2", scaleanchor="x2"),
        annotations=_panel_titles(("log p_θ by the ODE", 0.21), ("training data histogram", 0.75)),
    )  # fmt: skip
    return {"data": [model, counts], "layout": layout}
