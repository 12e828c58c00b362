"""File plumbing shared by the store: SHA-256 of a file, atomic writes, bounded folders."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write: Any, suffix: str = "") -> None:
    """Call write(tmp_path), then rename tmp over path (atomic on one file system). The hidden
    temporary ends in `suffix`, for writers that pick a format by the name (ffmpeg)."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


STALE_TEMPORARY_S = 600.0  # a write takes well under a second: a temporary file this old was left by a kill


def sweep_temporaries(folder: Path, older_than_s: float = STALE_TEMPORARY_S) -> int:
    """Remove the hidden temporary files (atomic_write's '.NAME.*', staging files) that a killed
    writer left in `folder`, once they are older than older_than_s; returns how many went."""
    removed, cutoff = 0, time.time() - older_than_s
    for path in Path(folder).glob(".*"):
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def prune_folder(folder: Path, max_age_s: float, max_bytes: int) -> int:
    """Delete the files under `folder` (subfolders too) older than max_age_s, then the oldest until
    at most max_bytes remain; remove subfolders left empty. Returns the bytes that remain."""
    files = []
    for path in Path(folder).rglob("*"):
        try:
            info = path.stat()
        except OSError:
            continue  # another request removed it first
        if path.is_file():
            files.append((info.st_mtime, info.st_size, path))
    files.sort()  # oldest first
    total = sum(size for _, size, _ in files)
    cutoff = time.time() - max_age_s
    for mtime, size, path in files:
        if mtime >= cutoff and total <= max_bytes:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
            if path.parent != Path(folder):
                path.parent.rmdir()  # only succeeds once the subfolder is empty
    return total
