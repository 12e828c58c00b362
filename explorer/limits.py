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


MAX_FIELD_CHARS = 1000  # a typed list (strip steps, an item) longer than this is refused before parsing


MAX_CURVE_CACHE_BYTES = 64 * 2**20  # quality-vs-NFE curves kept on disk (the oldest go first)


MAX_QUOTED = 60  # characters of a rejected value that an error message repeats


def quote(value: object) -> str:
    """A rejected value as an error message shows it: its repr, cut to MAX_QUOTED characters."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a repr that fails (a huge int) is still reported
        text = f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 1] + "…"


def _number(value: object) -> float | None:
    """`value` as a float, or None when it is not a number (bools are not numbers here)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float's range
        return None


def check_int(name: str, value: object, lo: int, hi: int) -> int:
    """Return `value` as an int in [lo, hi], or raise ValueError saying why not."""
    number = _number(value)
    if number is None or not math.isfinite(number) or number != int(number):
        raise ValueError(f"{name} must be a whole number between {lo} and {hi}, got {quote(value)}")
    if not lo <= number <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {int(number)}")
    return int(number)


def check_float(name: str, value: object, lo: float, hi: float) -> float:
    """Return `value` as a finite float in [lo, hi], or raise ValueError saying why not."""
    number = _number(value)
    if number is None:
        raise ValueError(f"{name} must be a number between {lo} and {hi}, got {quote(value)}")
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number between {lo} and {hi}, got {quote(value)}")
    if not lo <= number <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {number:g}")
    return number


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return `value` if it is one of `choices`, or raise ValueError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {quote(value)}")
    return value


def clamped_index(name: str, value: object, n: int) -> int:
    """A frame index from a scrub control: none means the first frame, a number is rounded and
    clamped into [0, n - 1]; a non-number (NaN, text) is refused with a ValueError."""
    if value is None:
        return 0
    number = _number(value)
    if number is None or not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {quote(value)}")
    return int(min(max(round(number), 0), n - 1))


def clamped_fraction(name: str, value: object) -> float:
    """A position in [0, 1] from a scrub control (clamped); a non-number is refused."""
    number = _number(value)
    if number is None or not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {quote(value)}")
    return min(max(number, 0.0), 1.0)
