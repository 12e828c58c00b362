"""RGB frames (H, W, 3) uint8 drawn with numpy and Pillow, for GIFs and image panels.

Plotly cannot rasterise without a browser, so animations are drawn here: points are
splatted onto a canvas with fixed axes, image batches are tiled into a grid, and each
frame carries a caption and a progress bar so a GIF reads on its own.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

POINT_LIM = 3.0  # fixed axes [-3, 3]^2: room for N(0, I) at t = T


# Viridis at 10 evenly spaced stops (the same stops as plotly's "Viridis").
VIRIDIS = np.array(
    [[0x44, 0x01, 0x54], [0x48, 0x28, 0x78], [0x3E, 0x49, 0x89], [0x31, 0x68, 0x8E],
     [0x26, 0x82, 0x8E], [0x1F, 0x9E, 0x89], [0x35, 0xB7, 0x79], [0x6E, 0xCE, 0x58],
     [0xB5, 0xDE, 0x2B], [0xFD, 0xE7, 0x25]], dtype=np.float32,
)  # fmt: skip


BACKGROUND = np.array([255, 255, 255], dtype=np.uint8)


PANEL = np.array([246, 246, 249], dtype=np.uint8)


INK = (40, 40, 48)


ACCENT = (99, 102, 241)


def angle_colors(points: np.ndarray) -> np.ndarray:
    """Colour values in [0, 1] for 2D points (N, 2): their angle around the origin, so a colour
    follows one point through frames and panels."""
    return (np.arctan2(points[:, 1], points[:, 0]) + np.pi) / (2 * np.pi)


def viridis(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB colours (N, 3) by linear interpolation."""
    position = np.clip(values, 0.0, 1.0) * (len(VIRIDIS) - 1)
    low = np.minimum(position.astype(np.int64), len(VIRIDIS) - 2)
    frac = (position - low)[:, None]
    return (VIRIDIS[low] * (1 - frac) + VIRIDIS[low + 1] * frac).astype(np.uint8)


@lru_cache(maxsize=8)
def font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own font at `px` pixels (no system font is assumed)."""
    return ImageFont.load_default(size=px)


def _layout(size: int) -> tuple[int, int]:
    """Heights of the caption band and the progress bar for a frame `size` pixels wide."""
    return max(14, size // 12), max(3, size // 100)


def _finish(canvas: np.ndarray, caption: str, progress: float | None) -> np.ndarray:
    """Write the caption into the top band and draw the progress bar at the bottom."""
    size = canvas.shape[1]
    band, bar = _layout(size)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    draw.text((size // 40 + 2, band // 2), caption, fill=INK, font=font(int(band * 0.62)), anchor="lm")
    if progress is not None:
        width = round(float(np.clip(progress, 0.0, 1.0)) * (size - 1))
        draw.rectangle([0, canvas.shape[0] - bar, width, canvas.shape[0] - 1], fill=ACCENT)
    return np.asarray(image)


def render_points(
    x: np.ndarray,
    color: np.ndarray,
    size: int,
    lim: float,
    caption: str = "",
    progress: float | None = None,
) -> np.ndarray:
    """Points (N, 2) on fixed axes [-lim, lim]^2, coloured by `color` in [0, 1]; (size, size, 3)."""
    band, bar = _layout(size)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    top, side = band, size - band - bar  # square plot area under the caption
    left = (size - side) // 2
    canvas[top : top + side, left : left + side] = PANEL
    centre = top + side // 2
    canvas[centre, left : left + side] = (225, 225, 232)  # the axes through 0
    canvas[top : top + side, left + side // 2] = (225, 225, 232)
    px = ((x[:, 0] + lim) / (2 * lim) * (side - 1)).round().astype(np.int64)
    py = ((lim - x[:, 1]) / (2 * lim) * (side - 1)).round().astype(np.int64)
    rgb = viridis(color)
    radius = max(1, size // 300)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dx * dx + dy * dy > radius * radius + 1:
                continue
            cx, cy = px + dx, py + dy
            keep = (cx >= 0) & (cx < side) & (cy >= 0) & (cy < side)
            canvas[top + cy[keep], left + cx[keep]] = rgb[keep]
    return _finish(canvas, caption, progress)


def image_grid(images: np.ndarray, side: int, gap: int = 2) -> np.ndarray:
    """Tile (N, C, H, W) images in [-1, 1] into a square-ish grid that fits side x side
    pixels, each enlarged by nearest neighbour; returns (side, side, 3) uint8."""
    n, channels, h, w = images.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    scale = max(1, (side - gap * (cols - 1)) // (cols * w))
    scale = min(scale, max(1, (side - gap * (rows - 1)) // (rows * h)))
    pixels = ((np.clip(images, -1.0, 1.0) + 1.0) * 127.5).round().astype(np.uint8)
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    tiles = pixels.transpose(0, 2, 3, 1).repeat(scale, axis=1).repeat(scale, axis=2)
    th, tw = h * scale, w * scale
    grid_h, grid_w = rows * th + gap * (rows - 1), cols * tw + gap * (cols - 1)
    canvas = np.empty((side, side, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    top, left = max(0, (side - grid_h) // 2), max(0, (side - grid_w) // 2)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = top + r * (th + gap), left + c * (tw + gap)
        canvas[y : y + th, x : x + tw] = tiles[i][: side - y, : side - x]
    return canvas


def render_images(images: np.ndarray, size: int, caption: str = "", progress: float | None = None) -> np.ndarray:
    """A captioned frame (size, size, 3) holding the grid of (N, C, H, W) images."""
    band, bar = _layout(size)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    side = size - band - bar
    left = (size - side) // 2
    canvas[band : band + side, left : left + side] = image_grid(images, side)
    return _finish(canvas, caption, progress)


def hstack_frames(frames: list[np.ndarray], gap: int = 6) -> np.ndarray:
    """Frames of equal height side by side with white gaps (a filmstrip)."""
    height = frames[0].shape[0]
    spacer = np.full((height, gap, 3), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for i, frame in enumerate(frames):
        parts.extend([spacer, frame] if i else [frame])
    return np.concatenate(parts, axis=1)


def render_text(
    text: str, size: int, caption: str = "", progress: float | None = None, columns: int = 24
) -> np.ndarray:
    """A captioned frame (size, size, 3) with `text` wrapped at `columns` characters a line."""
    band, bar = _layout(size)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    lines = [text[i : i + columns] for i in range(0, len(text), columns)] or [""]
    px = max(8, min(int((size - 16) / (columns * 0.62)), int((size - band - bar - 8) / (len(lines) * 1.4))))
    for row, line in enumerate(lines):
        draw.text((8, band + 6 + row * px * 1.4), line, fill=INK, font=font(px))
    return _finish(np.asarray(image).copy(), caption, progress)
