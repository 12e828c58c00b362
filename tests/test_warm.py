"""Start-up warming records the Reverse tab's default run under the very key an untouched Sample asks for."""

import threading

import gradio as gr

from explorer.serve.state import make_state
from explorer.ui import build_demo, reverse_tab


def component(demo: gr.Blocks, elem_id: str | None = None, label: str | None = None):
    found = [b for b in demo.blocks.values()
             if (elem_id and b.elem_id == elem_id) or (label and getattr(b, "label", None) == label)]  # fmt: skip
    assert len(found) == 1, (elem_id, label, found)
    return found[0]


def test_the_warmed_default_is_what_the_untouched_controls_ask_for(monkeypatch):
    made = []

    def fake_run(settings):  # the key is what matters here, not the sampling (tests/test_app covers that)
        made.append(settings)
        return settings

    monkeypatch.setattr(reverse_tab, "run_reverse", fake_run)
    state = make_state()
    demo = build_demo(state, warm_defaults=True)
    for thread in threading.enumerate():
        if thread.name == "warm-defaults":
            thread.join(timeout=60)
    assert state.runs.computed == 1 and made[0].model == reverse_tab.DEFAULT_MODEL
    ideal = "Sample with the ideal denoiser (it memorises the training set)"
    controls = [component(demo, "rev-model"), component(demo, "rev-n"), component(demo, "rev-seed"),
                component(demo, "rev-variance"), component(demo, label=ideal), component(demo, "rev-class"),
                component(demo, "rev-w")]  # fmt: skip
    key, run = reverse_tab.record(state, *(c.value for c in controls))
    assert state.runs.computed == 1 and run is made[0] and len(made) == 1  # answered from the store


def test_without_warming_nothing_is_recorded(monkeypatch):
    monkeypatch.setattr(reverse_tab, "run_reverse", lambda settings: settings)
    state = make_state()
    build_demo(state)
    assert state.runs.computed == 0 and not any(t.name == "warm-defaults" for t in threading.enumerate())


def test_a_failing_warm_up_is_logged_not_raised(caplog):
    from explorer.ui.warm import warm

    def broken(state):
        raise RuntimeError("no such model")

    warm(make_state(), {"Reverse denoising": broken}).join(timeout=10)
    assert "warming the Reverse denoising default failed" in caplog.text
