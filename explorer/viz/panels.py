"""Rasterised panels of recorded runs: x_t, x0_hat, strips and side-by-side rows (numpy RGB frames)."""

from __future__ import annotations

import numpy as np
import torch

from explorer.core.discrete.process import DiscreteProcess
from explorer.data.text import TEXT_VOCAB, decode_text
from explorer.limits import MAX_STRIP_FRAMES, check_int
from explorer.runs.compare import Comparison
from explorer.runs.corruption import Corruption
from explorer.runs.discrete import DiscreteRun
from explorer.runs.forward import ForwardProcess
from explorer.runs.guidance import Sweep
from explorer.runs.reverse import PATHS, ReverseRun
from explorer.sampling.inversion import INTERPOLATIONS, Morph
from explorer.viz import frames


def sweep_caption(sweep: Sweep, w: float, i: int) -> str:
    """Frame i of scale w: its t, and the class precision of the finished samples on the last frame only."""
    final = f"  precision {sweep.precision[w]:.2f}" if i == len(sweep.steps) - 1 else ""
    return f"w = {w:g}  t = {sweep.steps[i]}{final}"


def sweep_frame(sweep: Sweep, i: int, size: int) -> np.ndarray:
    """Recorded frame i of every scale, side by side, each captioned with its readings."""
    from explorer.viz.frames import angle_colors, hstack_frames

    i = check_int("frame", i, 0, len(sweep.steps) - 1)
    t = sweep.steps[i]
    panels = []
    for w, xs in sweep.frames.items():
        x = xs[i].numpy()
        color = angle_colors(xs[0].numpy()) if x.ndim == 2 else None
        panels.append(panel_frame(x, color, size, sweep_caption(sweep, w, i), 1 - t / sweep.steps[0]))
    return hstack_frames(panels)


def path_indices(n: int) -> np.ndarray:
    """Which points get their whole path drawn (a fixed handful, spread over the batch)."""
    return np.linspace(0, n - 1, min(PATHS, n)).round().astype(int)


def reverse_strip(run: ReverseRun, steps: list[int], size: int) -> np.ndarray:
    """x_t (top) and x0_hat (bottom) at the recorded frames nearest to the given steps."""
    picks = [run.frame_index(step) for step in steps]
    color = point_colors(run) if run.kind == "points" else None
    rows = []
    for source, label in ((run.xs, "x_t"), (run.x0s, "x0_hat")):
        rows.append(frames.hstack_frames([panel_frame(source[k], color, size, f"{label}  t = {run.steps[k]}",
                                                      1 - run.steps[k] / run.T) for k in picks]))  # fmt: skip
    gap = np.full((6, rows[0].shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([rows[0], gap, rows[1]], axis=0)


def point_colors(run: ReverseRun) -> np.ndarray:
    """Colour each sample by where it ends up (its angle around the origin)."""
    return frames.angle_colors(run.xs[-1])


def panel_frame(x: np.ndarray, color: np.ndarray | None, size: int, caption: str, progress: float) -> np.ndarray:
    """One captioned panel: points on the fixed axes, or an image grid."""
    from explorer.viz.frames import POINT_LIM

    if x.ndim == 2:
        return frames.render_points(x, color, size, POINT_LIM, caption, progress)
    return frames.render_images(x, size, caption, progress)


def run_colors(comparison: Comparison) -> np.ndarray | None:
    """Colour each sample by its x_T's angle, so a colour marks the same starting noise in every panel."""
    if comparison.kind != "points":
        return None
    return frames.angle_colors(comparison.runs[0].xs[0])


def side_by_side(comparison: Comparison, fraction: float, size: int, estimate: bool = False) -> np.ndarray:
    """Every run at the same fraction of its trajectory, as one row of captioned panels."""
    color = run_colors(comparison)
    panels = []
    for run in comparison.runs:
        k = run.frame_at(fraction)
        caption = f"{run.settings.caption()}   t = {run.t[k]}"
        panels.append(panel_frame((run.x0s if estimate else run.xs)[k], color, size, caption, fraction))
    return frames.hstack_frames(panels)


def morph_frames(morph: Morph, size: int, background: np.ndarray | None = None) -> list[np.ndarray]:
    """One frame per interpolation step: the slerp and lerp decodings side by side. Points: the
    path so far over the data cloud (dark); images: the decoded image."""
    from explorer.viz.frames import POINT_LIM

    out = []
    for k, alpha in enumerate(morph.alphas):
        panels = []
        for i, name in enumerate(INTERPOLATIONS):
            caption = f"{name}  alpha = {alpha:.2f}  |z|/sqrt(D) = {morph.norms[name][k]:.2f}"
            decoded = morph.decoded[name]
            if decoded.ndim == 2:
                cloud = background if background is not None else np.zeros((0, decoded.shape[1]))
                points = np.concatenate([cloud, decoded[: k + 1]])
                color = np.concatenate([np.full(len(cloud), 0.05), np.full(k + 1, 0.6 + 0.35 * i)])
                panels.append(frames.render_points(points, color, size, POINT_LIM, caption, float(alpha)))
            else:
                panels.append(frames.render_images(decoded[k : k + 1], size, caption, float(alpha)))
        out.append(frames.hstack_frames(panels))
    return out


def morph_strip(morph: Morph, cell: int = 48, gap: int = 4) -> np.ndarray:
    """Images only: a two-row strip, slerp above lerp, one column per interpolation step, each row
    named at its left."""
    from PIL import Image, ImageDraw

    rows = []
    for name in INTERPOLATIONS:
        cells = [frames.image_grid(image[None], cell, gap=0) for image in morph.decoded[name]]
        spacer = np.full((cell, gap, 3), 255, dtype=np.uint8)
        name_cell = Image.new("RGB", (cell, cell), "white")
        label_font = frames.font(max(11, cell // 4))
        ImageDraw.Draw(name_cell).text((cell - 6, cell // 2), name, fill=frames.INK, font=label_font, anchor="rm")
        row = [np.asarray(name_cell), *(c for pair in zip(cells, [spacer] * len(cells), strict=True) for c in pair)]
        rows.append(np.concatenate(row[:-1], axis=1))
    return np.concatenate([rows[0], np.full((gap, rows[0].shape[1], 3), 255, dtype=np.uint8), rows[1]])


def discrete_frame(run: DiscreteRun, i: int, size: int) -> np.ndarray:
    """Recorded state i as x_t (mask red) beside the model's x0 guess."""
    from explorer.viz.frames import hstack_frames, render_images

    i = check_int("frame", i, 0, len(run.xs) - 1)
    t, progress = run.ts[i], 1 - run.ts[i] / run.process.T
    left = render_images(to_rgb(run.xs[i], run.process).numpy(), size,
                         f"x_t  t = {t} / {run.process.T}", progress)  # fmt: skip
    right = render_images(run.guesses[i].numpy(), size, "model's expected x_0", progress)
    return hstack_frames([left, right])


MASK_RGB = (0.9, -0.6, -0.6)  # a masked pixel is drawn red


def state_labels(process: DiscreteProcess, text: bool = False) -> list[str]:
    """Category names for the figures: characters for text, levels for images, and the mask."""
    names = [repr(c) if c == " " else c for c in TEXT_VOCAB] if text else [str(i) for i in range(process.K)]
    return names + (["MASK"] if process.mask is not None else [])


def to_rgb(x: torch.Tensor, process: DiscreteProcess) -> torch.Tensor:
    """Integer images (N, 1, H, W) as RGB in [-1, 1]: grey levels, the mask in red."""
    grey = x.clamp(max=process.K - 1).double() / (process.K - 1) * 2 - 1
    rgb = grey.repeat(1, 3, 1, 1)
    if process.mask is not None:
        masked = (x == process.mask).squeeze(1)
        for c, value in enumerate(MASK_RGB):
            rgb[:, c][masked] = value
    return rgb


def corruption_frame(c: Corruption, t: int, size: int) -> np.ndarray:
    """x_t as a captioned RGB frame: an image grid (mask red) or the wrapped sentence (mask ▮)."""
    x = c.at(t)
    caption = f"{c.process.transition}  t = {t} / {c.process.T}"
    progress = t / c.process.T
    if c.settings.dataset == "text":
        return frames.render_text(decode_text(x), size, caption, progress)
    return frames.render_images(to_rgb(x, c.process).numpy(), size, caption, progress)


def forward_frame(process: ForwardProcess, step: int, size: int) -> np.ndarray:
    """The captioned RGB frame (size, size, 3) of the forward process's x_t, as the GIF and the strip draw it."""
    x = process.x_at(step).numpy()
    caption, progress = process.caption(step), step / process.T
    if process.kind == "points":
        return frames.render_points(x, process.color, size, process.view_lim, caption, progress)
    return frames.render_images(x, size, caption, progress)


def forward_strip(process: ForwardProcess, steps: list[int], size: int) -> np.ndarray:
    """Forward frames at the given steps side by side."""
    if not 1 <= len(steps) <= MAX_STRIP_FRAMES:
        raise ValueError(f"a strip holds 1 to {MAX_STRIP_FRAMES} frames, got {len(steps)}")
    return frames.hstack_frames([forward_frame(process, step, size) for step in steps])
