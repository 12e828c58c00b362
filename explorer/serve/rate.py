"""Each client's share of a shared server's request handling: a token bucket per client address.

A request costs tokens (a page or the app's config, which a new session fetches, costs more than
an event); each client's bucket refills at `per_s` tokens a second up to `burst`. A request that
finds too few tokens is refused, so a client that opens sessions or fires events as fast as it
can gets `per_s` worth of the server, not all of it, while a person's bursts (a page load, a
slider dragged) fit in the burst. It knows nothing of HTTP: the UI's middleware asks `admit`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

PUBLIC_REQUESTS_PER_S = 10.0  # tokens a client regains a second on a public server
PUBLIC_REQUEST_BURST = 100.0  # the most a client may spend at once
PAGE_COST = 10.0  # a page, its config or the API's description: what a new session costs
EVENT_COST = 1.0  # any other counted request (an event, an upload)
MAX_CLIENTS = 10_000  # clients whose buckets are remembered (the least recently seen go first)


class RequestRate:
    """Token buckets by client: `admit(client, cost)` spends `cost` or says how long to wait."""

    def __init__(self, per_s: float = PUBLIC_REQUESTS_PER_S, burst: float = PUBLIC_REQUEST_BURST,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        if per_s <= 0 or burst <= 0:
            raise ValueError(f"a request rate needs a positive rate and burst, got {per_s} and {burst}")
        self.per_s, self.burst, self._clock = per_s, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when counted)
        self._lock = threading.Lock()

    def admit(self, client: str, cost: float = EVENT_COST) -> float | None:
        """Spend `cost` tokens of `client`'s bucket: None when admitted, else the seconds until it
        could be (nothing is spent by a refused request)."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (self.burst, now))  # re-inserted: kept in order of use
            tokens = min(self.burst, tokens + (now - then) * self.per_s)
            wait = None
            if tokens >= cost:
                tokens -= cost
            else:
                wait = (min(cost, self.burst) - tokens) / self.per_s
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.pop(next(iter(self._buckets)))
        return wait
