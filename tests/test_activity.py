"""Training gives way to heavy requests: explorer.activity, the run store's marking and the job's pause."""

import threading
import time
from types import SimpleNamespace

import pytest

from explorer import activity
from explorer.activity import Activity
from explorer.runs.store import RunStore
from explorer.serve.state import make_state
from explorer.training.config import TrainConfig
from explorer.training.job import TrainingJob
from explorer.training.trainer import Trainer
from explorer.ui import training_tab

SMALL = dict(dataset="spiral", width=16, depth=1, T=50, batch=64, n_data=500, checkpoint_every=10_000)


def hold(requests: Activity, seconds: float) -> threading.Thread:
    """A request that stays active for `seconds` in another thread (already active on return)."""
    entered = threading.Event()

    def work() -> None:
        with requests.request():
            entered.set()
            time.sleep(seconds)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    entered.wait(5)
    return thread


def test_waiting_is_free_when_idle_and_ends_when_the_request_does():
    requests = Activity()
    assert requests.active == 0 and requests.wait_idle(max_pause_s=5) < 0.05
    thread = hold(requests, 0.3)
    assert requests.active == 1
    waited = requests.wait_idle(max_pause_s=10)
    assert 0.2 < waited < 3 and requests.active == 0  # returned when the request ended, not at 10 s
    thread.join()


def test_the_pause_is_bounded_and_a_stop_ends_it():
    requests = Activity()
    thread = hold(requests, 2.0)
    assert 0.15 <= requests.wait_idle(max_pause_s=0.2) < 1.5  # a stream of requests never stops training
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert requests.wait_idle(stop, max_pause_s=30) < 1.5  # cancelling a paused job is not held up
    thread.join()


def test_the_run_store_marks_a_run_active_only_while_it_is_made():
    store, seen = RunStore(), []
    store.compute(("k", 1, "w"), lambda: seen.append(store.requests.active) or "run")
    assert seen == [1] and store.requests.active == 0
    store.compute(("k", 1, "w"), lambda: seen.append("again"))  # a kept run is read, not made: nothing active
    assert seen == [1]

    def fails() -> None:
        raise ValueError("bad settings")

    with pytest.raises(ValueError):
        store.compute(("k", 2, "w"), fails)
    assert store.requests.active == 0  # a failed run does not leave training paused


def test_a_training_job_takes_no_step_while_a_request_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(activity, "MAX_PAUSE_S", 30.0)
    requests = Activity()
    job = TrainingJob(Trainer(TrainConfig(**SMALL, steps=20), tmp_path / "a", device="cpu"))
    job.yield_to = requests
    thread = hold(requests, 1.0)
    job.start()
    time.sleep(0.6)
    assert job.snapshot().step == 0  # the request has the machine
    thread.join()
    job.join(60)
    progress = job.snapshot()
    assert progress.status == "done" and progress.step == 20
    assert progress.yielded_s > 0.2  # what it waited is reported


def test_the_apps_training_queue_gives_way_to_the_apps_runs_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(activity, "MAX_PAUSE_S", 30.0)
    state = make_state(TrainingJob)
    thread = hold(state.runs.requests, 2.5)  # as a heavy request in the run store would be
    ticket = state.queue.submit(TrainConfig(**SMALL, steps=5), "mine", False, owner="me")
    assert ticket.job.yield_to is state.runs.requests
    thread.join()
    assert ticket.done.wait(60) and ticket.job.snapshot().status == "done"
    status = training_tab.on_poll(state, None, SimpleNamespace(session_hash="me"))[0]
    assert "**mine** · done · step 5 / 5" in status and " s for sampling requests" in status
