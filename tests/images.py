"""Image files for the upload tests, made on the fly (nothing binary in the repo)."""

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, width: int = 100, height: int = 50, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(0)
    channels = 3 if mode == "RGB" else 1
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(path)
    return path


def write_huge_png_header(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A small PNG whose header claims width x height pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    body = zlib.compress(b"\x00" * (width + 1) * 4)  # a few rows only; never decoded
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path
