"""Many users at once: 8 clients sample concurrently while training jobs run and wait in the
queue; every answer is checked, and the training completes."""

import threading
from types import SimpleNamespace

import pytest
from gradio_client import Client

from explorer.serve.state import make_state
from explorer.ui import training_tab
from tests.appserver import running_app

STATE = make_state(training_tab.make_job)  # the app's state, shared with the tests that inspect its queue

CLIENTS = 8
TRAIN = ["spiral", "small (width 64, depth 3)", "gaussian-noise", False, "linear", 100, "eps", 300, 256, 2e-3, 0]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPLORER_MODELS_DIR", str(tmp_path_factory.mktemp("models")))
        with running_app(STATE) as local_url:
            yield local_url


def test_eight_clients_sample_while_training_runs_and_waits(url):
    trainer_a, trainer_b = (Client(url, download_files=False, verbose=False) for _ in range(2))
    assert "started **load-a**" in trainer_a.predict(*TRAIN, "load-a", False, api_name="/train_start")
    waiting = trainer_b.predict(*TRAIN[:7], 100, *TRAIN[8:], "load-b", False, api_name="/train_start")
    assert "**load-b** is waiting: 1 job ahead of it" in waiting
    first, second = STATE.queue.ticket_of_name("load-a"), STATE.queue.ticket_of_name("load-b")
    # the Train tab's poll shows each asker their own job: the waiting one its place in line
    status_b = training_tab.on_poll(STATE, None, SimpleNamespace(session_hash=trainer_b.session_hash))[0]
    assert "**load-b** is waiting: position 1 in the training queue (now training: **load-a**)" in status_b
    status_a = training_tab.on_poll(STATE, None, SimpleNamespace(session_hash=trainer_a.session_hash))[0]
    assert status_a.startswith("**load-a** · running") and "1 job waiting" in status_a

    answers, samples, errors = {}, {}, []

    def sample(seed: int) -> None:
        try:
            client = Client(url, download_files=False, verbose=False)
            outputs = client.predict("spiral-mlp", 100, seed, "beta_tilde", False, "any", 1.0, False, "",
                                     api_name="/reverse_sample")  # fmt: skip
            answers[seed] = outputs[-2]
            samples[seed] = outputs[2]["value"]["plot"]  # the x_t figure at t = 0: the samples themselves
        except Exception as error:  # noqa: BLE001 - collected and reported below
            errors.append(f"seed {seed}: {error!r}")

    threads = [threading.Thread(target=sample, args=(seed,)) for seed in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)
    assert not errors, errors
    assert sorted(answers) == list(range(CLIENTS))
    distances = [float(info.split("distance to the spiral ")[1].split(" ")[0]) for info in answers.values()]
    assert all("t = 0 of 1000" in info for info in answers.values()) and max(distances) < 0.05, distances
    assert len(set(samples.values())) == CLIENTS, "each seed gave its own samples"
    assert first.done.wait(240) and second.done.wait(240)
    assert first.job.snapshot().status == "done" and second.job.snapshot().status == "done"
    assert second.job.snapshot().step == 100
