"""Start-up warming records the runs an untouched page's primary buttons ask for, under the very keys
their presses compute, so those presses are answered from the run store."""

import inspect

from gradio_client import Client

import explorer.ui
from explorer.serve.state import make_state
from explorer.ui import build_demo
from explorer.ui.warm import WARM_EVENTS, default_inputs, warm
from tests.appserver import running_app


def test_a_press_with_untouched_controls_is_answered_from_what_warming_recorded():
    """Two cheap events warmed for real, then pressed through the API with the page's defaults (what
    gradio_client sends when given no values): no run is computed again."""
    state = make_state()
    events = ("d3pm_sample", "guidance_sweep")
    warm(build_demo(state), events).join(timeout=120)
    assert state.runs.computed == 2
    with running_app(state) as url:  # another page over the same state, as a newcomer meets it
        client = Client(url, download_files=False, verbose=False)
        for api_name in events:
            client.predict(api_name=f"/{api_name}")
    assert state.runs.computed == 2, "a default press recomputed a warmed run"


def test_every_warmed_event_exists_and_takes_the_page_defaults():
    demo = build_demo(make_state())
    for api_name in WARM_EVENTS:
        handler, args = default_inputs(demo, api_name)
        inspect.signature(handler).bind(*args)  # raises if the handler would not take them


def test_build_demo_warms_only_when_asked(monkeypatch):
    started = []
    monkeypatch.setattr(explorer.ui, "warm", lambda demo: started.append(demo))
    plain = build_demo(make_state())
    warmed = build_demo(make_state(), warm_defaults=True)
    assert started == [warmed] and plain is not warmed


def test_a_failing_warm_up_is_logged_not_raised(caplog):
    warm(build_demo(make_state()), ("no_such_event",)).join(timeout=10)
    assert "warming the default no_such_event failed" in caplog.text
