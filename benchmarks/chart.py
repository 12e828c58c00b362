"""A small line chart drawn with Pillow, for the README's benchmark figures (no plotting
library is installed; plotly's static export would need a browser engine)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

COLORS = ["#4f46e5", "#e11d48", "#059669", "#d97706", "#0891b2", "#c026d3", "#111827", "#84cc16", "#f97316",
          "#64748b", "#0ea5e9", "#a16207"]  # fmt: skip
MARGIN = dict(left=64, right=200, top=44, bottom=44)  # the legend sits in the right margin


def _font(px: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(px)
    except TypeError:  # Pillow without scalable default font
        return ImageFont.load_default()


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        values = [m * 10**e for e in decades for m in (1, 2, 5)]
    else:
        step = 10 ** math.floor(math.log10((hi - lo) / 4 or 1))
        values = list(np.arange(math.floor(lo / step) * step, hi + step, step))
        while len(values) > 7:
            values = values[::2]
    return [v for v in values if lo <= v <= hi]


def line_chart(
    series: dict[str, tuple[list[float], list[float]]], title: str, x_title: str, y_title: str,
    x_log: bool = True, y_log: bool = False, size: tuple[int, int] = (720, 420),
) -> Image.Image:  # fmt: skip
    """Lines with markers, log axes where asked, and the legend to the right of the plot."""
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(14), _font(11)
    xs = [x for xv, _ in series.values() for x in xv]
    ys = [y for _, yv in series.values() for y in yv]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    if y_log:
        y_lo, y_hi = y_lo / 1.3, y_hi * 1.3
    else:
        pad = (y_hi - y_lo) * 0.08 or 0.01
        y_lo, y_hi = y_lo - pad, y_hi + pad
    fx = (lambda v: math.log10(v)) if x_log else (lambda v: v)
    fy = (lambda v: math.log10(v)) if y_log else (lambda v: v)
    left, right = MARGIN["left"], width - MARGIN["right"]
    top, bottom = MARGIN["top"], height - MARGIN["bottom"]

    def px(x: float, y: float) -> tuple[float, float]:
        u = (fx(x) - fx(x_lo)) / ((fx(x_hi) - fx(x_lo)) or 1)
        v = (fy(y) - fy(y_lo)) / ((fy(y_hi) - fy(y_lo)) or 1)
        return left + u * (right - left), bottom - v * (bottom - top)

    for tick in _ticks(x_lo, x_hi, x_log):
        x, _ = px(tick, y_lo)
        draw.line([(x, top), (x, bottom)], fill="#ebeef3")
        draw.text((x, bottom + 4), f"{tick:g}", fill="#374151", font=small, anchor="ma")
    for tick in _ticks(y_lo, y_hi, y_log):
        _, y = px(x_lo, tick)
        draw.line([(left, y), (right, y)], fill="#ebeef3")
        draw.text((left - 4, y), f"{tick:g}", fill="#374151", font=small, anchor="rm")
    draw.rectangle([left, top, right, bottom], outline="#9ca3af")
    draw.text((left, 8), title, fill="#111827", font=font)
    draw.text(((left + right) / 2, height - 18), x_title, fill="#374151", font=small, anchor="ma")
    draw.text((left, top - 8), y_title, fill="#374151", font=small, anchor="ld")
    for i, (label, (xv, yv)) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        points = [px(x, y) for x, y in zip(xv, yv, strict=True)]
        draw.line(points, fill=color, width=2)
        for x, y in points:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], outline=color, width=2)
        ly = top + 8 + 18 * i
        draw.line([(right + 10, ly), (right + 30, ly)], fill=color, width=3)
        draw.text((right + 36, ly), label, fill="#111827", font=small, anchor="lm")
    return image


def side_by_side(images: list[Image.Image]) -> Image.Image:
    out = Image.new("RGB", (sum(i.width for i in images), max(i.height for i in images)), "white")
    x = 0
    for image in images:
        out.paste(image, (x, 0))
        x += image.width
    return out
