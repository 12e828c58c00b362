"""Start-up warming: the runs a newcomer's first presses ask for, recorded once in the background.

Each tab's primary button with its controls untouched asks for one deterministic run (the Reverse
tab's: the shipped spiral model, 1,000 points, DDPM's 1,000 steps, 3-5 s of one core; the Latent
tab's inversion 8-15 s; nine such presses take about 50 s of one core, docs/performance.md). With
`warm_defaults`, build_demo starts a thread that calls those events' own handlers with the values
their input components start with, after the same preprocessing a request's payload gets, so each
run goes into the run store under the key a press computes: a press while it is being made waits
for it (RunStore computes a key once) and a press afterwards is answered from the store.
`app.py --no-warm` (EXPLORER_WARM=0) turns it off; the tests build their apps without it.
"""

from __future__ import annotations

import inspect
import logging
import threading
from typing import Any

import gradio as gr

from explorer.ui.common import spaces_module

WARM_ENV = "EXPLORER_WARM"
log = logging.getLogger(__name__)

# the primary buttons' events (api names), in the order a newcomer meets them
WARM_EVENTS = ("reverse_sample", "compare_run", "latent_invert", "latent_interpolate", "d3pm_sample",
               "guidance_sweep", "score_field", "elbo", "nll")  # fmt: skip


def default_inputs(demo: gr.Blocks, api_name: str) -> tuple[Any, list[Any]]:
    """The handler of the event `api_name` and the arguments an untouched page sends it: each input's
    starting value, preprocessed as a payload is."""
    found = [fn for fn in demo.fns.values() if fn.api_name == api_name]
    if len(found) != 1:
        raise LookupError(f"no single event named {api_name!r}")
    event = found[0]
    return event.fn, [block.preprocess(block.value) for block in event.inputs]


def warm(demo: gr.Blocks, events: tuple[str, ...] = WARM_EVENTS) -> threading.Thread | None:
    """Run each event's default press in a daemon thread; one that fails is logged and skipped (its
    tab reports the error when pressed). Not on ZeroGPU, where the handlers are spaces.GPU calls that
    only a request may make (returns None there)."""
    if spaces_module() is not None:
        return None

    def work() -> None:
        for api_name in events:
            try:
                handler, args = default_inputs(demo, api_name)
                result = handler(*args)
                if inspect.isgenerator(result):
                    for _ in result:
                        pass
            except Exception:  # a warm-up must never take the server down
                log.warning("warming the default %s failed", api_name, exc_info=True)

    thread = threading.Thread(target=work, name="warm-defaults", daemon=True)
    thread.start()
    return thread
