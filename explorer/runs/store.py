"""Recorded runs, computed once by a heavy request and read by light ones.

A run (a reverse trajectory, a comparison, a sweep, ...) is computed only by its heavy endpoint,
inside the sampling concurrency group, and kept here under a key made of what fixes it: the
run's kind, its settings (frozen, hashable dataclasses) and the SHA-256 of the model's weights.
A session holds the key of its latest run; scrubbing, frames and the browser player read the
recorded run by that key and never sample: on a miss they answer that the run must be made first.
Because the key carries the weights' hash, a model retrained under the same name never serves
an old run. The store is bounded by count and by the bytes of the arrays it holds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import torch

from explorer.activity import REQUESTS, Activity

MAX_RUNS = 32
MAX_RUN_BYTES = 1024 * 2**20  # the arrays of every kept run together


class RunMissing(ValueError):
    """A light request asked for a run the store does not hold (never made, or evicted); the UI
    words what to press."""

    def __init__(self) -> None:
        super().__init__("that run is not recorded (never made, or evicted)")


RunKey = tuple[str, Hashable, str]  # (kind, settings, weights hash)


def size_of(value: Any, depth: int = 0) -> int:
    """Bytes held by the tensors and arrays inside a run (dataclasses, lists, dicts), roughly."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if depth > 4:
        return 0
    if is_dataclass(value) and not isinstance(value, type):
        return sum(size_of(getattr(value, f.name), depth + 1) for f in fields(value))
    if isinstance(value, dict):
        return sum(size_of(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(size_of(v, depth + 1) for v in value)
    return 0


class RunStore:
    """A bounded, least-recently-used map from run keys to recorded runs; safe across threads.
    Two requests for the same missing key compute it once (the second waits for the first)."""

    def __init__(self, max_runs: int = MAX_RUNS, max_bytes: int = MAX_RUN_BYTES, requests: Activity = REQUESTS):
        self.max_runs, self.max_bytes = max_runs, max_bytes
        self._runs: OrderedDict[RunKey, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[RunKey, threading.Lock] = {}
        self.computed = 0  # runs made so far (the tests count them)
        self.requests = requests  # where a run being made marks itself active (training gives way to it)

    def compute(self, key: RunKey, make: Callable[[], Any]) -> Any:
        """The run under `key`, made by make() if it is not kept (heavy endpoints only)."""
        with self._lock:
            gate = self._computing.setdefault(key, threading.Lock())
        try:
            with gate:
                found = self.get(key)
                if found is None:
                    with self.requests.request():
                        found = make()
                    self.put(key, found)
                return found
        finally:
            with self._lock:
                self._computing.pop(key, None)

    def put(self, key: RunKey, run: Any) -> None:
        size = size_of(run)
        with self._lock:
            self._runs.pop(key, None)
            self._runs[key] = (run, size)
            self.computed += 1
            total = sum(s for _, s in self._runs.values())
            while len(self._runs) > 1 and (len(self._runs) > self.max_runs or total > self.max_bytes):
                _, (_, dropped) = self._runs.popitem(last=False)
                total -= dropped

    def get(self, key: RunKey | None) -> Any | None:
        """The recorded run under `key`, or None: never computes anything (light endpoints)."""
        if key is None:
            return None
        with self._lock:
            try:
                hash(key)
            except TypeError:
                return None
            if key not in self._runs:
                return None
            self._runs.move_to_end(key)
            return self._runs[key][0]

    def require(self, key: RunKey | None) -> Any:
        """The recorded run under `key`, or RunMissing (the run must be made first)."""
        run = self.get(key)
        if run is None:
            raise RunMissing
        return run

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)
