"""Heavy requests in flight, which a background training job gives way to.

A training job and a sampling request share the machine's cores (and its GPU, where there is one).
Left alone, the job takes its half: on 2 CPU cores a request computed beside it took longer (see
benchmarks/beside_training.py). The policy here is "requests first, training never starved": every
heavy request marks itself active in REQUESTS while it computes (each event of the app's sampling
group, ui.common.gpu_call, and every run the run store makes), and the job, before each of its
steps, waits while any is active, but never longer than MAX_PAUSE_S at a time, so a stream of
requests slows training to a step every MAX_PAUSE_S and never stops it. (Its previews and its final
evaluation do not wait.) REQUESTS is the process's: every request and job in it share one machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_PAUSE_S = 2.0  # the longest a training job waits for requests before it takes one more step


class Activity:
    """A count of heavy runs in flight; safe across threads."""

    def __init__(self) -> None:
        self._active = 0
        self._changed = threading.Condition()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Mark one heavy run active for the body of the `with`."""
        with self._changed:
            self._active += 1
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    @property
    def active(self) -> int:
        with self._changed:
            return self._active

    def wait_idle(self, stop: threading.Event | None = None, max_pause_s: float | None = None) -> float:
        """Block while a run is active, at most max_pause_s (default MAX_PAUSE_S; sooner once `stop` is
        set: a cancelled job does not wait). Returns the seconds waited."""
        start = time.perf_counter()
        deadline = start + (MAX_PAUSE_S if max_pause_s is None else max_pause_s)
        with self._changed:
            while self._active and not (stop is not None and stop.is_set()):
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.05))  # wake to see `stop`, which does not notify
        return time.perf_counter() - start


REQUESTS = Activity()  # the heavy requests in flight in this process
