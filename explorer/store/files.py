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


def atomic_write(path: Path, write: Any) -> None:
    """Call write(tmp_path), then rename tmp over path (atomic on one file system)."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def prune_folder(folder: Path, max_age_s: float, max_bytes: int) -> None:
    """Delete the folder's files older than max_age_s, then the oldest until at most max_bytes remain."""
    files = []
    for path in folder.iterdir():
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
