"""Start-up warming: the default runs a newcomer meets first, recorded once in the background.

The Reverse tab's untouched Sample (the shipped spiral model, 1,000 points, DDPM's 1,000 steps) is
deterministic and costs 3-5 s of CPU (docs/performance.md), most of it the network's 1,000 forward
passes. `app.py` starts this thread once the app is built: the run goes into the run store through the
same record() a press uses, so a press while it is still computing waits for it (RunStore computes a
key once) and a press afterwards answers from the store. `--no-warm` (EXPLORER_WARM=0) turns it off.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from explorer.serve.state import AppState
from explorer.ui import reverse_tab

WARM_ENV = "EXPLORER_WARM"
log = logging.getLogger(__name__)

DEFAULT_RUNS: dict[str, Callable[[AppState], None]] = {"Reverse denoising": reverse_tab.record_default}


def warm(state: AppState, runs: dict[str, Callable[[AppState], None]] = DEFAULT_RUNS) -> threading.Thread:
    """Record each default run in a daemon thread; one that fails is logged and skipped (its tab
    reports the error when pressed)."""

    def work() -> None:
        for name, record in runs.items():
            try:
                record(state)
            except Exception:  # a warm-up must never take the server down
                log.warning("warming the %s default failed", name, exc_info=True)

    thread = threading.Thread(target=work, name="warm-defaults", daemon=True)
    thread.start()
    return thread
