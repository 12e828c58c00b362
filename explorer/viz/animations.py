"""Whole runs as frame lists and GIFs: what the tabs export and the CLI writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE, check_int
from explorer.runs.compare import MAX_CONFIGS, Comparison
from explorer.runs.corruption import CorruptionSettings, corruption
from explorer.runs.discrete import DiscreteRun
from explorer.runs.forward import ForwardProcess, ForwardSettings, forward_process
from explorer.runs.guidance import Sweep
from explorer.runs.reverse import ReverseRun
from explorer.viz import frames
from explorer.viz.export import write_animation
from explorer.viz.panels import (
    corruption_frame,
    discrete_frame,
    forward_frame,
    panel_frame,
    point_colors,
    side_by_side,
    sweep_frame,
)


def sweep_gif(sweep: Sweep, size: int, fps: float, out: str | Path) -> Path:
    """A recorded sweep's reverse processes, side by side, as a GIF."""
    from explorer.limits import MAX_GIF_SIZE, MIN_GIF_SIZE
    from explorer.viz.export import write_animation

    size = check_int("GIF panel size", size, MIN_GIF_SIZE, MAX_GIF_SIZE // 4)
    return write_animation([sweep_frame(sweep, i, size) for i in range(len(sweep.steps))], out, fps)


def reverse_animation(run: ReverseRun, n_frames: int, size: int) -> list[np.ndarray]:
    """Side-by-side frames (x_t | x0_hat) at n_frames steps from T to 0."""
    from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE

    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF size", size, MIN_GIF_SIZE, MAX_GIF_SIZE)
    color = point_colors(run) if run.kind == "points" else None
    picks = np.linspace(0, len(run.steps) - 1, n_frames).round().astype(int)
    out = []
    for k in picks:
        t, progress = run.steps[k], 1 - run.steps[k] / run.T
        left = panel_frame(run.xs[k], color, size, f"x_t   t = {t} / {run.T}", progress)
        right = panel_frame(run.x0s[k], color, size, "model's estimate of x_0", progress)
        out.append(frames.hstack_frames([left, right]))
    return out


def compare_animation(comparison: Comparison, n_frames: int, size: int) -> list[np.ndarray]:
    """Frames synchronised by fraction of each trajectory, from x_T to the samples."""
    from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE

    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF panel size", size, MIN_GIF_SIZE, MAX_GIF_SIZE // MAX_CONFIGS)
    return [side_by_side(comparison, f, size) for f in np.linspace(0, 1, n_frames)]


def discrete_gif(run: DiscreteRun, n_frames: int, fps: float, size: int, out: str | Path) -> Path:
    """A recorded reverse process from x_T to the data as a GIF (the tab's export and `sample`)."""
    from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE
    from explorer.viz.export import write_animation

    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF size", size, MIN_GIF_SIZE, MAX_GIF_SIZE)
    picks = np.unique(np.linspace(0, len(run.xs) - 1, n_frames).round().astype(int))
    return write_animation([discrete_frame(run, int(i), size) for i in picks], out, fps)


def corruption_gif(settings: CorruptionSettings, n_frames: int, fps: float, size: int, out: str | Path) -> Path:
    """The corruption from t = 0 to T as a GIF (the tab's export and `python -m explorer corrupt`)."""
    from explorer.limits import MAX_GIF_FRAMES, MAX_GIF_SIZE, MIN_GIF_SIZE
    from explorer.viz.export import write_animation

    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF size", size, MIN_GIF_SIZE, MAX_GIF_SIZE)
    c = corruption(settings)
    ts = np.linspace(0, c.process.T, n_frames).round().astype(int)
    return write_animation([corruption_frame(c, int(t), size) for t in ts], out, fps)


def forward_animation(process: ForwardProcess, n_frames: int, size: int) -> list[np.ndarray]:
    """n_frames frames at steps evenly spaced from 0 (data) to T (noise)."""
    n_frames = check_int("frames", n_frames, 2, MAX_GIF_FRAMES)
    size = check_int("GIF size", size, MIN_GIF_SIZE, MAX_GIF_SIZE)
    steps = np.linspace(0, process.T, n_frames).round().astype(int)
    return [forward_frame(process, int(step), size) for step in steps]


def export_forward_gif(settings: ForwardSettings, n_frames: int, fps: float, size: int, path: str | Path) -> Path:
    """The whole forward process from data to noise as a looping GIF (tab and CLI share it)."""
    return write_animation(forward_animation(forward_process(settings), n_frames, size), path, fps)
