"""Bounded disk for a shared server: the web framework's file cache and each client's upload rate.

Everything a user uploads, and a copy of every file the app returns (GIF and MP4 exports, images),
lands in the framework's cache folder. `DiskBudget` keeps that folder under a total size and age
(the oldest files go first) and, on a public server, refuses a client's uploads beyond a rate, so
one person cannot fill the disk for everyone. It knows nothing of HTTP: the UI's middleware asks
`admit` before an upload is read and calls `prune` as requests come.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from explorer.store.files import prune_folder

CACHE_MAX_BYTES = 1024 * 2**20  # the framework's cache (uploads and returned files) in all
CACHE_MAX_AGE_S = 3600.0  # files older than this are removed
PRUNE_EVERY_S = 2.0  # the cache is walked at most this often


PUBLIC_UPLOAD_BYTES = 200 * 2**20  # what one client may upload per window on a public server
UPLOAD_WINDOW_S = 600.0


MAX_CLIENTS = 10_000  # clients whose recent uploads are remembered


class DiskBudget:
    """The cache folder's bounds and, when `per_client_bytes` is set, each client's upload window."""

    def __init__(self, folder: Callable[[], Path], max_bytes: int = CACHE_MAX_BYTES,
                 max_age_s: float = CACHE_MAX_AGE_S, per_client_bytes: int | None = None,
                 window_s: float = UPLOAD_WINDOW_S, clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.folder, self.max_bytes, self.max_age_s = folder, max_bytes, max_age_s
        self.per_client_bytes, self.window_s, self._clock = per_client_bytes, window_s, clock
        self._uploads: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()
        self._pruned_at = -float("inf")

    def admit(self, client: str, size: int) -> str | None:
        """Record an upload of `size` bytes by `client`, or return why it is refused (None: go ahead).
        The cache is first pruned to leave room for it."""
        if self.per_client_bytes is not None:
            now = self._clock()
            with self._lock:
                recent = self._uploads.pop(client, deque())  # re-inserted: the dict stays in order of use
                while recent and recent[0][0] < now - self.window_s:
                    recent.popleft()
                used = sum(n for _, n in recent)
                if used + size > self.per_client_bytes:
                    self._uploads[client] = recent
                    wait = recent[0][0] + self.window_s - now if recent else self.window_s
                    return (
                        f"upload limit reached: {used / 2**20:.0f} MB of {self.per_client_bytes / 2**20:.0f} MB "
                        f"in {self.window_s / 60:.0f} minutes from you; try again in {max(wait, 1):.0f} s"
                    )
                recent.append((now, size))
                self._uploads[client] = recent
                while len(self._uploads) > MAX_CLIENTS:
                    self._uploads.pop(next(iter(self._uploads)))
        self.prune(room=size, force=True)
        return None

    def prune(self, room: int = 0, force: bool = False) -> int | None:
        """Keep the cache within its bounds, with `room` bytes to spare; at most every PRUNE_EVERY_S
        unless forced. Returns the bytes that remain (None when skipped)."""
        with self._lock:
            now = self._clock()
            if not force and now - self._pruned_at < PRUNE_EVERY_S:
                return None
            self._pruned_at = now
        folder = self.folder()
        if not folder.is_dir():
            return 0
        return prune_folder(folder, self.max_age_s, max(0, self.max_bytes - room))


def client_address(forwarded_for: str | None, peer: str | None) -> str | None:
    """Who a request comes from: the last X-Forwarded-For entry (the one the host's own proxy
    added; earlier entries are the client's claim) or else the socket's peer."""
    forwarded = (forwarded_for or "").split(",")[-1].strip()
    return forwarded or peer or None
