"""Writing animations as looping GIFs or as MP4 video, atomically (store.files.atomic_write).

MP4 (H.264, yuv420p, +faststart so a browser starts playing before the end arrives) is written
by the ffmpeg binary that the imageio-ffmpeg wheel ships; without that package only GIF is
offered. A video is a fraction of a GIF's size and keeps every colour.

All frames share one 256-colour palette, built once from a mosaic of frames spread
over the animation and applied without dithering, so colours do not flicker from
frame to frame. Frames are assembled by Pillow directly: imageio (which also writes
through Pillow) re-maps the palette of every frame in Python, about 30 ms a frame,
which would put a 100-frame GIF past its 2 s budget.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.limits import MAX_GIF_FPS, MAX_GIF_FRAMES, check_float, quote
from explorer.store.files import atomic_write

PALETTE_SAMPLE_FRAMES = 8


def shared_palette(frames: list[np.ndarray]) -> Image.Image:
    """A 'P' image whose palette fits a mosaic of up to 8 frames spread over the animation."""
    picks = np.linspace(0, len(frames) - 1, min(len(frames), PALETTE_SAMPLE_FRAMES))
    mosaic = np.concatenate([frames[int(i)] for i in picks.round()], axis=0)
    return Image.fromarray(mosaic).quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


FORMATS = {"GIF": ".gif", "MP4": ".mp4"}  # the export formats, by the label a control shows
MP4_CRF = 18  # x264 constant rate factor: visually lossless for these flat-coloured frames


@functools.cache
def mp4_available() -> bool:
    """Whether an MP4 encoder is installed (the imageio-ffmpeg wheel and its ffmpeg binary)."""
    try:
        import imageio_ffmpeg

        return Path(imageio_ffmpeg.get_ffmpeg_exe()).is_file()
    except (ImportError, RuntimeError):
        return False


def export_formats() -> list[str]:
    """The formats this installation can write: GIF always, MP4 where an encoder is installed."""
    return [name for name in FORMATS if name == "GIF" or mp4_available()]


def export_suffix(name: object) -> str:
    """The file suffix of an export format's label ('GIF' -> '.gif'); a ValueError for anything else."""
    if name not in export_formats():
        raise ValueError(f"the export format is one of {', '.join(export_formats())}, got {quote(name)}")
    return FORMATS[name]  # type: ignore[index]


def write_animation(frames: list[np.ndarray], path: str | os.PathLike, fps: float) -> Path:
    """Write RGB uint8 frames as the format `path`'s suffix names (.gif or .mp4)."""
    return write_mp4(frames, path, fps) if Path(path).suffix == ".mp4" else write_gif(frames, path, fps)


def write_mp4(frames: list[np.ndarray], path: str | os.PathLike, fps: float) -> Path:
    """Write RGB uint8 frames (H, W, 3) as an H.264 MP4 at `fps` frames per second. Frames are
    padded (edge pixels repeated) to even sides, which yuv420p needs."""
    import imageio_ffmpeg

    if not 1 <= len(frames) <= MAX_GIF_FRAMES:
        raise ValueError(f"a video needs between 1 and {MAX_GIF_FRAMES} frames, got {len(frames)}")
    fps = check_float("fps", fps, 1, MAX_GIF_FPS)
    h, w = frames[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def encode(tmp: str) -> None:
        writer = imageio_ffmpeg.write_frames(
            tmp, (w + w % 2, h + h % 2), fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            quality=None, macro_block_size=1, output_params=["-crf", str(MP4_CRF), "-movflags", "+faststart"],
            ffmpeg_log_level="error",
        )  # fmt: skip
        writer.send(None)  # start the encoder
        for frame in frames:
            writer.send(np.ascontiguousarray(np.pad(frame[..., :3], pad, mode="edge")))
        writer.close()

    atomic_write(path, encode, suffix=".mp4")
    return path


def write_gif(frames: list[np.ndarray], path: str | os.PathLike, fps: float) -> Path:
    """Write RGB uint8 frames (H, W, 3) as a looping GIF at `fps` frames per second."""
    if not 1 <= len(frames) <= MAX_GIF_FRAMES:
        raise ValueError(f"a GIF needs between 1 and {MAX_GIF_FRAMES} frames, got {len(frames)}")
    fps = check_float("fps", fps, 1, MAX_GIF_FPS)
    palette = shared_palette(frames)
    images = [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                                  duration=round(1000 / fps), loop=0, optimize=False))  # fmt: skip
    return path
