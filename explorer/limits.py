"""Bounds on every request (and on the disk the app fills), defined once and enforced in the core.

The UI's sliders mirror these numbers, but the core checks them itself, so the
API, the command line and the tests meet the same limits and the same messages.
"""

from __future__ import annotations

import math

MIN_T = 2


MAX_T = 4000


MAX_POINTS = 10_000


MAX_IMAGES = 64


MIN_IMAGE_SIDE = 4


MAX_IMAGE_SIDE = 128


MAX_UPLOAD_BYTES = 20 * 1024 * 1024


MAX_UPLOAD_PIXELS = 4096 * 4096


MAX_NOISE = 1.0


MAX_GIF_FRAMES = 200


MAX_GIF_FPS = 50


MIN_GIF_SIZE = 64


MAX_GIF_SIZE = 1024


MAX_STRIP_FRAMES = 12


MAX_CURVE_CACHE_BYTES = 64 * 2**20  # quality-vs-NFE curves kept on disk (the oldest go first)


def check_int(name: str, value: object, lo: int, hi: int) -> int:
    """Return `value` as an int in [lo, hi], or raise ValueError saying why not."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a whole number between {lo} and {hi}, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number between {lo} and {hi}, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"{name} must be a whole number between {lo} and {hi}, got {value!r}")
    if not lo <= number <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {int(number)}")
    return int(number)


def check_float(name: str, value: object, lo: float, hi: float) -> float:
    """Return `value` as a finite float in [lo, hi], or raise ValueError saying why not."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number between {lo} and {hi}, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number between {lo} and {hi}, got {value!r}")
    if not lo <= number <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {number:g}")
    return number
