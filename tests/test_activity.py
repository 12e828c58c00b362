"""Training gives way to heavy requests: explorer.activity, the marks (the sampling group's events, the
run store) and the job's pause. Requests here are held and released by events, not by sleeping."""

import threading
import time
from types import SimpleNamespace

import pytest

from explorer import activity
from explorer.activity import REQUESTS, Activity
from explorer.runs.store import RunStore
from explorer.serve.state import make_state
from explorer.training.config import TrainConfig
from explorer.training.job import TrainingJob
from explorer.training.trainer import Trainer
from explorer.ui import training_tab

SMALL = dict(dataset="spiral", width=16, depth=1, T=50, batch=64, n_data=500, checkpoint_every=10_000)


class Held:
    """A request active in another thread until release() (already active once constructed)."""

    def __init__(self, requests: Activity):
        self._entered, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._work, args=(requests,), daemon=True)
        self._thread.start()
        assert self._entered.wait(10)

    def _work(self, requests: Activity) -> None:
        with requests.request():
            self._entered.set()
            self._release.wait(60)

    def release(self) -> None:
        self._release.set()
        self._thread.join(10)


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_waiting_is_free_when_idle_and_ends_when_the_request_does():
    requests = Activity()
    assert requests.active == 0 and requests.wait_idle(max_pause_s=5) < 0.5
    held = Held(requests)
    assert requests.active == 1
    threading.Timer(0.3, held.release).start()
    waited = requests.wait_idle(max_pause_s=30)
    assert 0.2 < waited < 20 and requests.active == 0  # returned when the request ended, not at 30 s


def test_the_pause_is_bounded_and_a_stop_ends_it():
    requests = Activity()
    held = Held(requests)
    assert 0.15 <= requests.wait_idle(max_pause_s=0.2) < 10  # a stream of requests never stops training
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert requests.wait_idle(stop, max_pause_s=60) < 10  # cancelling a paused job is not held up
    assert requests.active == 1
    held.release()


def test_the_run_store_marks_a_run_active_only_while_it_is_made():
    store, seen = RunStore(requests=Activity()), []
    store.compute(("k", 1, "w"), lambda: seen.append(store.requests.active) or "run")
    assert seen == [1] and store.requests.active == 0
    store.compute(("k", 1, "w"), lambda: seen.append("again"))  # a kept run is read, not made: nothing active
    assert seen == [1]

    def fails() -> None:
        raise ValueError("bad settings")

    with pytest.raises(ValueError):
        store.compute(("k", 2, "w"), fails)
    assert store.requests.active == 0  # a failed run does not leave training paused


def test_every_heavy_event_marks_itself_while_it_runs():
    """The sampling group's events (runs, scores, curves, exports) all pass through gpu_call, which
    marks activity.REQUESTS for the whole call, generators included: also work the run store never
    sees, such as a curve's ladder or a GIF's encoding."""
    from explorer.ui import build_demo
    from explorer.ui.common import gpu_call

    demo = build_demo()
    heavy = [fn for fn in demo.fns.values() if fn.concurrency_id == "sampling"]
    assert len(heavy) >= 20 and all(getattr(fn.fn, "marks_activity", False) for fn in heavy), [
        fn.api_name for fn in heavy if not getattr(fn.fn, "marks_activity", False)
    ]
    assert gpu_call(lambda: REQUESTS.active)() == 1 and REQUESTS.active == 0

    def frames():
        yield REQUESTS.active
        yield REQUESTS.active

    assert list(gpu_call(frames)()) == [1, 1] and REQUESTS.active == 0


def test_a_training_job_takes_no_step_while_a_request_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(activity, "MAX_PAUSE_S", 60.0)
    requests = Activity()
    job = TrainingJob(Trainer(TrainConfig(**SMALL, steps=20), tmp_path / "a", device="cpu"))
    job.yield_to = requests
    held = Held(requests)
    job.start()
    wait_until(lambda: job.snapshot().status == "running")
    time.sleep(0.5)
    assert job.snapshot().step == 0  # the request has the machine
    held.release()
    job.join(60)
    progress = job.snapshot()
    assert progress.status == "done" and progress.step == 20
    assert progress.yielded_s > 0.4  # what it waited is reported


def test_the_apps_training_queue_gives_way_to_the_processs_requests_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(activity, "MAX_PAUSE_S", 60.0)
    state = make_state(TrainingJob)
    assert state.runs.requests is REQUESTS  # the store's runs and the events mark the same count
    held = Held(REQUESTS)
    ticket = state.queue.submit(TrainConfig(**SMALL, steps=5), "mine", False, owner="me")
    assert ticket.job.yield_to is REQUESTS
    wait_until(lambda: ticket.job.snapshot().status == "running")
    time.sleep(1.2)  # paused all along: the request is still held
    held.release()
    assert ticket.done.wait(60) and ticket.job.snapshot().status == "done"
    status = training_tab.on_poll(state, None, SimpleNamespace(session_hash="me"))[0]
    assert "**mine** · done · step 5 / 5" in status and " s for sampling requests" in status
