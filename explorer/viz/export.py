"""Writing animations as looping GIFs, atomically (temp file + rename).

All frames share one 256-colour palette, built once from a mosaic of frames spread
over the animation and applied without dithering, so colours do not flicker from
frame to frame. Frames are assembled by Pillow directly: imageio (which also writes
through Pillow) re-maps the palette of every frame in Python, about 30 ms a frame,
which would put a 100-frame GIF past its 2 s budget.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.limits import MAX_GIF_FPS, MAX_GIF_FRAMES, check_float

PALETTE_SAMPLE_FRAMES = 8


def shared_palette(frames: list[np.ndarray]) -> Image.Image:
    """A 'P' image whose palette fits a mosaic of up to 8 frames spread over the animation."""
    picks = np.linspace(0, len(frames) - 1, min(len(frames), PALETTE_SAMPLE_FRAMES))
    mosaic = np.concatenate([frames[int(i)] for i in picks.round()], axis=0)
    return Image.fromarray(mosaic).quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def write_gif(frames: list[np.ndarray], path: str | os.PathLike, fps: float) -> Path:
    """Write RGB uint8 frames (H, W, 3) as a looping GIF at `fps` frames per second."""
    if not 1 <= len(frames) <= MAX_GIF_FRAMES:
        raise ValueError(f"a GIF needs between 1 and {MAX_GIF_FRAMES} frames, got {len(frames)}")
    fps = check_float("fps", fps, 1, MAX_GIF_FPS)
    palette = shared_palette(frames)
    images = [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=".gif", dir=path.parent)
    os.close(handle)
    try:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:],
            duration=round(1000 / fps), loop=0, optimize=False,
        )  # fmt: skip
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
