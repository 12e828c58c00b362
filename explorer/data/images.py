"""User images: read with the size checked before decoding, and quantised to K levels."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from explorer.limits import (
    MAX_IMAGE_SIDE,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_PIXELS,
    MIN_IMAGE_SIDE,
    check_int,
)


def quantize(images: torch.Tensor, K: int) -> torch.Tensor:
    """Images in [-1, 1] to K integer levels 0..K-1."""
    return ((images.clamp(-1, 1) + 1) / 2 * (K - 1)).round().long()


def load_image(path: str | os.PathLike, size: int, grey: bool = False) -> torch.Tensor:
    """Read an image file (any format Pillow reads), centre-crop it to a square, resize to
    size x size, and return (1, C, size, size) in [-1, 1] with C = 1 (grey) or 3 (RGB)."""
    size = check_int("image size", size, MIN_IMAGE_SIDE, MAX_IMAGE_SIDE)
    path = Path(path)
    if not path.is_file():
        raise ValueError("no image was uploaded (the file is missing)")
    n_bytes = path.stat().st_size
    if n_bytes == 0:
        raise ValueError("the uploaded file is empty")
    if n_bytes > MAX_UPLOAD_BYTES:
        raise ValueError(f"the uploaded file is {n_bytes / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check below
            image_file = Image.open(path)
        with image_file as image:
            width, height = image.size  # read from the header, before any pixel is decoded
            if width * height > MAX_UPLOAD_PIXELS:
                raise ValueError(f"the image is {width}x{height} pixels; the limit is {MAX_UPLOAD_PIXELS:,} pixels")
            if width == 0 or height == 0:
                raise ValueError("the image has no pixels")
            image = ImageOps.exif_transpose(image).convert("L" if grey else "RGB")
            image = ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS)
    except Image.DecompressionBombError:  # Pillow refuses headers over 2 x its own limit
        raise ValueError(
            f"the image has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels; the limit is {MAX_UPLOAD_PIXELS:,} pixels"
        ) from None
    except UnidentifiedImageError:
        raise ValueError("the uploaded file is not an image Pillow can read") from None
    except OSError as error:
        raise ValueError(f"the uploaded image could not be decoded ({error})") from None
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    array = array[None] if grey else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(0)
