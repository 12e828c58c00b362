"""Recorded runs as player payloads (explorer/viz/player.py): what each tab's player receives.

Each builder reads a recorded run and never samples. Point runs are sent at 12 bits with every
recorded frame when that fits MAX_PLAYER_BYTES, else at 8 bits, else with frames thinned evenly
(both ends kept), so a large run still plays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from explorer.core.schedules import NoiseSchedule
from explorer.runs.compare import Comparison
from explorer.runs.discrete import DiscreteRun
from explorer.runs.forward import ForwardProcess
from explorer.runs.guidance import Sweep
from explorer.runs.reverse import ReverseRun, optimal_reference
from explorer.sampling.inversion import Morph
from explorer.viz import frames
from explorer.viz.figures import NOISE_COLOR, SCHEDULE_COLORS
from explorer.viz.panels import path_indices, point_colors, sweep_caption, to_rgb
from explorer.viz.player import (
    COARSE_LEVELS,
    FINE_LEVELS,
    bars_panel,
    blend_panel,
    curve,
    images_panel,
    payload,
    payload_bytes,
    points_panel,
)

MAX_PLAYER_BYTES = 5 * 2**20  # the payload budget of one run, as JSON text

Builder = Callable[[int, np.ndarray], dict[str, Any]]  # (levels, picked frame indices) -> payload


def fit(build: Builder, frames_count: int) -> dict[str, Any]:
    """The finest payload within budget: 12 bits and every frame, 8 bits, then fewer frames."""
    every = np.arange(frames_count)
    for levels in (FINE_LEVELS, COARSE_LEVELS):
        value = build(levels, every)
        if payload_bytes(value) <= MAX_PLAYER_BYTES:
            return value
    keep = frames_count
    while keep > 2:
        keep = max(2, keep * 3 // 4)
        value = build(COARSE_LEVELS, np.unique(np.linspace(0, frames_count - 1, keep).round().astype(int)))
        if payload_bytes(value) <= MAX_PLAYER_BYTES:
            return value
    return value


def reverse_payload(run: ReverseRun) -> dict[str, Any]:
    """x_t beside the model's x0_hat from t = T to 0, the paths of a few points, the ideal x0_hat
    overlay where it was recorded, and the distance (or commitment) curve with a moving marker."""
    if run.kind == "image":
        return _reverse(run, FINE_LEVELS, np.arange(len(run.steps)))
    return fit(lambda levels, pick: _reverse(run, levels, pick), len(run.steps))


def _reverse(run: ReverseRun, levels: int, pick: np.ndarray) -> dict[str, Any]:
    steps = [int(run.steps[i]) for i in pick]
    labels = [f"t = {t} of {run.T} · {run.nfe} model evaluations for the whole run" for t in steps]
    if run.kind == "image":
        panels = [images_panel("x_t", run.xs[pick], [f"x_t   t = {t} / {run.T}" for t in steps]),
                  images_panel("x̂₀", run.x0s[pick], [f"x̂₀ made at t = {t}" for t in steps])]  # fmt: skip
    else:
        colors = frames.viridis(point_colors(run))
        ideal = None if run.ideal_x0s is None else run.ideal_x0s[pick]
        panels = [points_panel("x_t", run.xs[pick], colors, [f"x_t at t = {t}" for t in steps],
                               paths=path_indices(run.xs.shape[1]), levels=levels),
                  points_panel("x̂₀", run.x0s[pick], colors, [f"x̂₀ made at t = {t}" for t in steps], overlay=ideal,
                               overlay_name="ideal x̂₀ (training set)", levels=levels)]  # fmt: skip
    line = None
    if run.distances is not None:
        line = curve("Distance of x_t to the spiral (against the straight slide)", steps,
                     {"mean distance of x_t to the spiral": run.distances[pick].tolist(),
                      "optimal: straight slide": optimal_reference(run)[pick].tolist()}, reversed_x=True)  # fmt: skip
        labels = [f"{label} · distance to the spiral {d:.4f}" for label, d in zip(labels, run.distances[pick],
                                                                                  strict=True)]  # fmt: skip
    elif run.commitment is not None:
        line = curve(
            "When does the model commit to a digit? (share of x̂₀ read as the final digit)",
            steps,
            {"x̂₀ already read as the final digit": run.commitment[pick].tolist()},
            reversed_x=True,
        )
        labels = [f"{label} · {c:.0%} of x̂₀ already read as the final digit"
                  for label, c in zip(labels, run.commitment[pick], strict=True)]  # fmt: skip
    return payload(panels, labels, line)


def compare_payload(comparison: Comparison, estimate: bool = False) -> dict[str, Any]:
    """Every configuration side by side, synchronised by the fraction of its trajectory (x_t, or
    x0_hat with estimate)."""
    longest = max(len(r.t) for r in comparison.runs)
    if comparison.kind == "image":
        return _compare(comparison, estimate, FINE_LEVELS, np.arange(longest))
    return fit(lambda levels, pick: _compare(comparison, estimate, levels, pick), longest)


def _compare(comparison: Comparison, estimate: bool, levels: int, pick: np.ndarray) -> dict[str, Any]:
    """Clock ticks `pick` of the longest run; each run shows the frames at the same fractions."""
    longest = max(len(r.t) for r in comparison.runs)
    fractions = pick / max(longest - 1, 1)
    panels = []
    color = frames.viridis(frames.angle_colors(comparison.runs[0].xs[0])) if comparison.kind == "points" else None
    for run in comparison.runs:
        own = np.unique([run.frame_at(float(f)) for f in fractions])
        source = (run.x0s if estimate else run.xs)[own]
        captions = [f"{run.settings.caption()}   t = {run.t[i]}" for i in own]
        if comparison.kind == "image":
            panels.append(images_panel(run.settings.caption(), source, captions))
        else:
            panels.append(points_panel(run.settings.caption(), source, color, captions, levels=levels))
    what = "x̂₀" if estimate else "x_t"
    labels = [f"{what} at {100 * f:.0f}% of each trajectory · the same x_T for every sampler" for f in fractions]
    return payload(panels, labels)


MAX_IMAGE_FRAMES = 201  # image runs: sprite sheets of at most this many frames


def discrete_payload(run: DiscreteRun) -> dict[str, Any]:
    """A D3PM generation: x_t (the mask in red) beside the model's expected x_0, from x_T to the data."""
    pick = np.unique(np.linspace(0, len(run.xs) - 1, min(len(run.xs), MAX_IMAGE_FRAMES)).round().astype(int))
    T = run.process.T
    states = np.stack([to_rgb(run.xs[i], run.process).numpy() for i in pick])
    guesses = np.stack([run.guesses[i].numpy() for i in pick])
    ts = [int(run.ts[i]) for i in pick]
    panels = [images_panel("x_t", states, [f"x_t   t = {t} / {T}" for t in ts]),
              images_panel("expected x_0", guesses, [f"model's expected x_0 at t = {t}" for t in ts])]  # fmt: skip
    labels = [f"t = {t} of {T} · {run.process.transition} model · {len(run.xs) - 1} reverse steps" for t in ts]
    return payload(panels, labels)


def sweep_payload(sweep: Sweep) -> dict[str, Any]:
    """The same x_T sampled at every guidance scale, side by side, one clock for all."""
    K = len(sweep.steps)
    panels = []
    first = next(iter(sweep.frames.values()))
    points = first[0].dim() == 2
    color = frames.viridis(frames.angle_colors(first[0].numpy())) if points else None
    for w, xs in sweep.frames.items():
        stack = np.stack([x.numpy() for x in xs])
        captions = [sweep_caption(sweep, w, i) for i in range(K)]
        if points:
            panels.append(points_panel(f"w = {w:g}", stack, color, captions))
        else:
            panels.append(images_panel(f"w = {w:g}", stack, captions))
    labels = [f"t = {t} · DDIM {sweep.settings.steps} steps from one x_T at every w" for t in sweep.steps]
    return payload(panels, labels[:K])


DATA_COLOR = (199, 210, 254)  # the drawn data under a point morph, pale indigo


def morph_payload(morph: Morph, cloud: np.ndarray) -> dict[str, Any]:
    """The decoded interpolation from A to B, one panel per path (slerp, lerp) on one clock: for an
    image model the decoded image at each alpha; for a point model the decoded point with its trail,
    over the drawn data. The clock's caption gives alpha and the latent's norm on each path."""
    names = list(morph.decoded)
    alphas = morph.alphas
    labels = [f"alpha = {a:.2f} · |z| / sqrt(D): " + ", ".join(f"{name} {morph.norms[name][i]:.2f}" for name in names)
              for i, a in enumerate(alphas)]  # fmt: skip
    panels = []
    for name in names:
        decoded = morph.decoded[name]
        captions = [f"{name}   alpha = {a:.2f}" for a in alphas]
        if decoded.ndim == 2:  # points: (F, D), one point a frame
            xs = decoded[:, None, :2]
            color = frames.viridis(np.array([0.15]))
            background = np.repeat(cloud[None, :, :2], len(alphas), axis=0)
            panels.append(points_panel(name, xs, color, captions, paths=np.array([0]), overlay=background,
                                       overlay_name="data", overlay_color=DATA_COLOR, dot=8))  # fmt: skip
        else:  # images: (F, C, H, W), one image a frame
            panels.append(images_panel(name, decoded[:, None], captions))
    return payload(panels, labels)


def prior_label(schedule: NoiseSchedule) -> str:
    """The name of the distribution the process ends at: N(0, 1), or N(0, sigma_max^2) for VE."""
    return f"N(0, {schedule.prior_std:.3g}²)" if schedule.prior_std != 1.0 else "N(0, 1)"


MAX_FORWARD_FRAMES = 201  # recorded frames of a chain run, and histograms of either route


def forward_payload(process: ForwardProcess, label: Callable[[int], str],
                    compare: list[NoiseSchedule] = ()) -> dict[str, Any]:  # fmt: skip
    """The forward process at every t, for the browser: x_t (computed there from x0 and the fixed
    eps for the closed-form route; recorded frames of the step-by-step chain), the histogram of
    one coordinate against the exact density of q(x_t) and N(0, 1), and the schedule's signal and
    noise curves (and the compared schedules' signal) with a marker at t."""
    T = process.T
    picked = np.unique(np.linspace(0, T, min(T + 1, MAX_FORWARD_FRAMES)).round().astype(int))
    shortcut = process.settings.mode == "shortcut"
    ticks = np.arange(T + 1) if shortcut else picked
    points = process.kind == "points"
    color = frames.viridis(process.color) if points else None
    captions = [f"x_t   t = {t} / {T}" for t in ticks]
    if shortcut:
        scales = np.array([process.scales(int(t))[:2] for t in ticks])
        x_panel = blend_panel("x_t", process.x0.numpy(), process.eps.numpy(), scales[:, 0], scales[:, 1], captions,
                              color, lim=process.view_lim)  # fmt: skip
        panels = [x_panel]
    else:
        xs = np.stack([process.x_at(int(t)).numpy() for t in ticks])
        if points:

            def chain(levels: int, pick: np.ndarray) -> dict[str, Any]:
                shown = [captions[i] for i in pick]
                panel = points_panel("x_t", xs[pick], color, shown, lim=process.view_lim, levels=levels)
                return payload([panel], shown)

            panels = [fit(chain, len(ticks))["panels"][0]]
        else:
            panels = [images_panel("x_t", xs, captions)]
    first, densities, exact = process.histograms([int(t) for t in picked])
    nearest = f" (the nearest of {len(picked)} histograms)" if len(picked) < len(ticks) else ""
    lines = {"q(x_t), exact": (first.grid, exact, (236, 72, 153)),
             prior_label(process.schedule): (first.grid, first.standard[None], (107, 114, 128))}  # fmt: skip
    panels.append(bars_panel(f"Histogram of {first.label}", first.edges, densities,
                             [f"{first.label} at t = {t}" + nearest for t in picked], lines))  # fmt: skip
    series, colors = {}, {}
    for i, schedule in enumerate([process.schedule, *compare]):  # each schedule in its colour of the Plotly chart
        name = f"signal a_t ({schedule.name})"
        series[name] = np.concatenate([[1.0], schedule.sqrt_alpha_bar.numpy()])[ticks].tolist()
        colors[name] = SCHEDULE_COLORS[i % len(SCHEDULE_COLORS)]
    noise = f"noise s_t ({process.schedule.name})"
    series[noise] = np.concatenate([[0.0], process.schedule.sqrt_one_minus_alpha_bar.numpy()])[ticks].tolist()
    colors[noise] = NOISE_COLOR
    line = curve("Signal a_t and noise s_t against t (x_t = a_t x₀ + s_t ε)", ticks.tolist(), series, colors=colors)
    return payload(panels, [label(int(t)) for t in ticks], line)
