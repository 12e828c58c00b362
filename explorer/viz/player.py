"""Payloads for the in-browser player: a whole recorded run, sent once, drawn and scrubbed locally.

Points travel as integers on the panel's fixed axes [-lim, lim] (12 bits, a tenth of a pixel, or
8 bits for the largest runs), delta-coded along the frames and deflated (zlib), then base64; the
browser inflates them with its own DecompressionStream. Measured on the shipped spiral model's
DDPM run (5,000 points, 201 frames): x_t costs 1.3 bytes a coordinate at 12 bits and 0.68 at 8
(each step adds fresh noise, so its deltas are not small), x0_hat 0.96 and 0.29.
Image runs travel as one PNG sprite sheet per panel, a frame per cell. Colours are RGB bytes.

The payload is a plain dict (JSON-ready):
    {"version", "frames": F, "labels": [F captions], "panels": [...], "curve": {...} | None}
A panel shows its own frame f * (K - 1) / (F - 1) at clock tick f (K its own frame count),
so runs of different lengths play side by side synchronised by the fraction of their run.
"""

from __future__ import annotations

import base64
import io
import zlib
from typing import Any

import numpy as np
from PIL import Image

from explorer.viz.frames import POINT_LIM, image_grid

VERSION = 1
FINE_LEVELS = 4096  # 12 bits on [-lim, lim]: 0.0015 on the [-3, 3] axes, a tenth of a pixel of a 380 px panel
COARSE_LEVELS = 256  # 8 bits (0.024, about 1.5 px): for runs too large to send finely


def encode_points(xs: np.ndarray, lim: float = POINT_LIM, levels: int = FINE_LEVELS) -> str:
    """(K, N, 2) coordinates on [-lim, lim] as base64(zlib(deltas along K)) of integers 0..levels-1:
    one byte each (levels <= 256), else two, sent as two planes (low bytes, then high) that deflate
    better than interleaved ones. Differences are taken modulo 2^8 or 2^16, as the browser sums them."""
    q = np.round((np.clip(np.asarray(xs, dtype=np.float64) / lim, -1.0, 1.0) + 1.0) / 2.0 * (levels - 1))
    q = q.astype(np.int64)
    deltas = np.diff(q, axis=0, prepend=np.zeros_like(q[:1]))  # frame 0 itself, then differences
    if levels <= 256:
        raw = (deltas % 256).astype(np.uint8).tobytes()
    else:
        wrapped = (deltas % 65536).astype(np.uint16).reshape(-1)
        raw = (wrapped & 0xFF).astype(np.uint8).tobytes() + (wrapped >> 8).astype(np.uint8).tobytes()
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def decode_points(text: str, shape: tuple[int, int, int], lim: float = POINT_LIM,
                  levels: int = FINE_LEVELS) -> np.ndarray:  # fmt: skip
    """The inverse of encode_points (what the browser computes), for tests and checks."""
    raw = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
    if levels <= 256:
        deltas, modulus = raw.astype(np.int64), 256
    else:
        half = raw.size // 2
        deltas, modulus = raw[:half].astype(np.int64) + (raw[half:].astype(np.int64) << 8), 65536
    q = np.cumsum(deltas.reshape(shape), axis=0) % modulus
    return q / (levels - 1) * 2.0 * lim - lim


def encode_colors(rgb: np.ndarray) -> str:
    """(N, 3) colours in [0, 1] (or bytes) as base64 RGB bytes."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        rgb = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
    return base64.b64encode(rgb.tobytes()).decode("ascii")


def points_panel(title: str, xs: np.ndarray, colors: np.ndarray, captions: list[str], lim: float = POINT_LIM,
                 paths: np.ndarray | None = None, overlay: np.ndarray | None = None, overlay_name: str = "",
                 levels: int = FINE_LEVELS, overlay_color: tuple[int, int, int] | None = None, dot: int = 2
                 ) -> dict[str, Any]:  # fmt: skip
    """A scatter panel: K frames of N points (colours per point), optional paths of a few points
    (drawn from the first frame to the current one) and an optional second point set per frame."""
    K, N, _ = xs.shape
    panel = {"kind": "points", "title": title, "frames": K, "n": N, "lim": lim, "levels": levels,
             "data": encode_points(xs, lim, levels), "colors": encode_colors(colors), "captions": captions,
             "paths": [] if paths is None else [int(i) for i in paths], "dot": dot}  # fmt: skip
    if overlay is not None:
        panel["overlay"] = {"name": overlay_name, "n": overlay.shape[1], "data": encode_points(overlay, lim, levels)}
        if overlay_color is not None:  # else the player's pink
            panel["overlay"]["color"] = [int(c) for c in overlay_color]
    return panel


def encode_bytes(values: np.ndarray, lo: float, hi: float) -> str:
    """Values on [lo, hi] as base64(zlib(uint8)): 256 levels, clipped at the ends."""
    q = np.round((np.clip(np.asarray(values, dtype=np.float64), lo, hi) - lo) / (hi - lo) * 255)
    return base64.b64encode(zlib.compress(q.astype(np.uint8).tobytes(), 6)).decode("ascii")


EPS_LIM = 4.0  # the blend panels' noise is sent on [-4, 4] (8 bits: 0.03 a level; |eps| > 4 has p < 1e-4)


def blend_panel(title: str, x0: np.ndarray, eps: np.ndarray, signal: np.ndarray, noise: np.ndarray,
                captions: list[str], colors: np.ndarray | None = None, lim: float = POINT_LIM,
                levels: int = FINE_LEVELS) -> dict[str, Any]:  # fmt: skip
    """A panel the browser computes itself: x_t = signal[k] x0 + noise[k] eps at frame k (the
    closed form of q(x_t | x0) with one fixed eps), so every t of the process plays without sending
    a frame. Points (N, 2) travel as encode_points; images (B, C, H, W) in [-1, 1] as bytes, drawn
    as a grid (cols images a row, 2 px apart)."""
    frames = len(signal)
    panel = {"kind": "blend", "title": title, "frames": frames, "captions": captions,
             "signal": [float(v) for v in signal], "noise": [float(v) for v in noise]}  # fmt: skip
    if x0.ndim == 2:
        panel |= {"form": "points", "n": len(x0), "lim": lim, "levels": levels, "eps_lim": EPS_LIM,
                  "x0": encode_points(x0[None], lim, levels), "eps": encode_points(eps[None], EPS_LIM, levels),
                  "colors": encode_colors(colors)}  # fmt: skip
    else:
        count, channels, h, w = x0.shape
        panel |= {"form": "images", "count": count, "channels": channels, "h": h, "w": w,
                  "cols": int(np.ceil(np.sqrt(count))), "eps_lim": EPS_LIM,
                  "x0": encode_bytes(x0, -1.0, 1.0), "eps": encode_bytes(eps, -EPS_LIM, EPS_LIM)}  # fmt: skip
    return panel


def bars_panel(title: str, edges: np.ndarray, heights: np.ndarray, captions: list[str],
               lines: dict[str, tuple[np.ndarray, np.ndarray, tuple[int, int, int]]]) -> dict[str, Any]:  # fmt: skip
    """A histogram a frame, (K, B) densities on the bins `edges`, with density curves drawn over
    it: each line is (grid (G,), values (K, G), or (1, G) for a static one, RGB colour). Each frame
    has its own y scale (the data's spikes at t = 0 would flatten every later frame), so heights
    and curves travel as bytes of their frame's maximum."""
    K = len(heights)
    curves = {name: (grid, np.broadcast_to(values, (K, len(grid))), color) for name, (grid, values, color) in
              lines.items()}  # fmt: skip
    tops = np.max([heights.max(axis=1), *(v.max(axis=1) for _, v, _ in curves.values())], axis=0)
    tops = np.where(tops > 0, tops, 1.0)[:, None]
    return {"kind": "bars", "title": title, "frames": K, "captions": captions,
            "lo": float(edges[0]), "hi": float(edges[-1]), "bins": int(heights.shape[1]),
            "heights": encode_bytes(heights / tops, 0.0, 1.0),
            "lines": [{"name": name, "color": [int(c) for c in color], "grid": [float(g) for g in grid],
                       "frames": K, "data": encode_bytes(values / tops, 0.0, 1.0)}
                      for name, (grid, values, color) in curves.items()]}  # fmt: skip


def sprite_sheet(frames: list[np.ndarray]) -> tuple[str, int, int, int]:
    """RGB frames of one size as a PNG data URL, `cols` frames a row: (url, cols, width, height)."""
    h, w = frames[0].shape[:2]
    cols = max(1, min(len(frames), 4096 // w))
    rows = -(-len(frames) // cols)
    sheet = np.full((rows * h, cols * w, 3), 255, dtype=np.uint8)
    for i, frame in enumerate(frames):
        r, c = divmod(i, cols)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = frame
    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), cols, w, h


def images_panel(title: str, xs: np.ndarray, captions: list[str], side: int = 0) -> dict[str, Any]:
    """An image-grid panel: K frames of a batch (K, B, C, H, W) in [-1, 1], each frame one grid."""
    grids = [image_grid(np.asarray(x), side or _grid_side(x)) for x in xs]
    url, cols, w, h = sprite_sheet(grids)
    return {"kind": "images", "title": title, "frames": len(grids), "sprite": url, "cols": cols, "width": w,
            "height": h, "captions": captions}  # fmt: skip


def _grid_side(batch: np.ndarray) -> int:
    """A grid side that keeps every pixel of the batch (the browser enlarges it without smoothing)."""
    n, _, h, _ = batch.shape
    per_row = int(np.ceil(np.sqrt(n)))
    return per_row * (h + 2) + 2


def payload(panels: list[dict[str, Any]], labels: list[str], curve: dict[str, Any] | None = None) -> dict[str, Any]:
    """The player's value: the panels, a caption per clock tick, an optional curve with a marker."""
    frames = len(labels)
    if frames < 1 or not panels:
        raise ValueError("a player needs at least one panel and one frame")
    return {"version": VERSION, "frames": frames, "labels": labels, "panels": panels, "curve": curve}


def curve(title: str, x: list[float], series: dict[str, list[float]], x_label: str = "t",
          reversed_x: bool = False, colors: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """A small line chart under the panels whose marker follows the clock (one x per clock tick); `colors`
    names a series' CSS colour (else the player's palette, in order)."""
    lines = {k: [float(v) for v in s] for k, s in series.items()}
    value = {"title": title, "x": [float(v) for v in x], "series": lines, "x_label": x_label, "reversed": reversed_x}
    if colors:
        value["colors"] = dict(colors)
    return value


def payload_bytes(value: dict[str, Any]) -> int:
    """The payload's size as the browser receives it (JSON text)."""
    import json

    return len(json.dumps(value))
