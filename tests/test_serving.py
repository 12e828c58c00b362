"""Serving many users: server limits, the training queue, device release and failures,
bounded output folders and the ZeroGPU wrapper."""

import os
import sys
import time
import types

import pytest
import torch

from explorer.config import SHIPPED_DIR
from explorer.serve import limits as server
from explorer.serve.training_queue import TrainingQueue, owner_mark, read_owner
from explorer.store.registry import REGISTRY
from explorer.training.config import TrainConfig
from explorer.training.job import TrainingJob
from explorer.training.trainer import Trainer

SMALL = dict(dataset="spiral", width=16, depth=1, T=50, batch=64, n_data=500, checkpoint_every=10_000)


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path))
    yield tmp_path
    server.configure(server.ServerLimits())


def wait_until(condition, timeout=60.0):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_limits_come_from_the_environment_and_bad_values_are_refused():
    assert server.limits_from_env({}).read_only is False
    public = server.limits_from_env({"EXPLORER_PUBLIC": "1"})
    assert public.public and public.max_train_steps == server.PUBLIC_MAX_TRAIN_STEPS
    assert public.train_queue == server.PUBLIC_TRAIN_QUEUE and public.max_models == server.PUBLIC_MAX_MODELS
    given = server.limits_from_env({"EXPLORER_READ_ONLY": "true", "EXPLORER_MAX_TRAIN_STEPS": "500",
                                    "EXPLORER_SAMPLING_CONCURRENCY": "3"})  # fmt: skip
    assert given.read_only and given.max_train_steps == 500 and given.sampling_concurrency == 3
    assert given.torch_threads == 1  # thread hygiene: one torch thread per request unless asked
    assert server.limits_from_env({"EXPLORER_TORCH_THREADS": "4"}).torch_threads == 4
    for key, value in [("EXPLORER_MAX_TRAIN_STEPS", "0"), ("EXPLORER_TRAIN_QUEUE", "lots"),
                       ("EXPLORER_SAMPLING_CONCURRENCY", "nan"), ("EXPLORER_TORCH_THREADS", "0")]:  # fmt: skip
        with pytest.raises(ValueError, match="must be"):
            server.limits_from_env({key: value})


def test_jobs_run_one_at_a_time_in_order_and_the_queue_reports_positions(models_dir):
    server.configure(server.ServerLimits(public=True, train_queue=2))
    queue = TrainingQueue(TrainingJob)
    a = queue.submit(TrainConfig(**SMALL, steps=100_000), "a", False, owner="alice")
    b = queue.submit(TrainConfig(**SMALL, steps=20), "b", False, owner="bob")
    c = queue.submit(TrainConfig(**SMALL, steps=20), "c", False, owner="carol")
    assert [queue.position(t) for t in (a, b, c)] == [0, 1, 2] and b.job is None and c.job is None
    with pytest.raises(ValueError, match="queue is full"):
        queue.submit(TrainConfig(**SMALL, steps=20), "d", False, owner="dave")
    with pytest.raises(ValueError, match="already running or waiting"):
        queue.submit(TrainConfig(**SMALL, steps=20), "b", False, owner="erin")
    with pytest.raises(ValueError, match="no training job of yours"):  # public: strangers cannot cancel alice's job
        queue.cancel("mallory")
    assert "left the queue" in queue.cancel("carol") and c.cancelled and queue.position(c) is None
    assert queue.position(b) == 1
    wait_until(lambda: a.job.snapshot().step >= 5)
    assert "cancelling **a**" in queue.cancel("alice")
    assert b.done.wait(60) and a.done.is_set()
    assert a.job.snapshot().status == "cancelled" and b.job.snapshot().status == "done"
    assert a.job.trainer is None and b.job.trainer is None, "finished jobs let their trainers go"
    assert queue.running is None and queue.ticket_of("bob") is b


def test_read_only_and_step_limits_refuse_training(models_dir):
    queue = TrainingQueue(TrainingJob)
    server.configure(server.ServerLimits(read_only=True))
    with pytest.raises(ValueError, match="read-only"):
        queue.submit(TrainConfig(**SMALL, steps=20), "x", False, owner="o")
    server.configure(server.ServerLimits(max_train_steps=100))
    with pytest.raises(ValueError, match="at most 100 steps"):
        queue.submit(TrainConfig(**SMALL, steps=101), "x", False, owner="o")
    with pytest.raises(ValueError, match="bad model name"):
        queue.submit(TrainConfig(**SMALL, steps=20), "../x", False, owner="o")
    assert not list(models_dir.iterdir()), "refused jobs write nothing"
    server.configure(server.ServerLimits(max_models=1))
    assert queue.submit(TrainConfig(**SMALL, steps=5), "only", False, owner="o").done.wait(60)
    with pytest.raises(ValueError, match="at most 1 trained models"):
        queue.submit(TrainConfig(**SMALL, steps=5), "another", False, owner="o")


def test_shipped_names_are_reserved_and_a_user_folder_cannot_shadow_them(models_dir):
    queue = TrainingQueue(TrainingJob)
    for resume in (False, True):
        with pytest.raises(ValueError, match="name of a shipped model"):
            queue.submit(TrainConfig(**SMALL, steps=5), "spiral-mlp", resume, owner="o")
    assert not list(models_dir.iterdir())
    # a folder of that name made another way (say, copied in) is not what the name serves
    Trainer(TrainConfig(**SMALL, steps=5), models_dir / "spiral-mlp").save()
    assert REGISTRY.folder("spiral-mlp") == SHIPPED_DIR / "spiral-mlp"
    assert REGISTRY.handle("spiral-mlp").schedule.T == 1000  # not the T = 50 impostor


def test_on_a_public_server_one_job_per_person_and_only_owners_resume(models_dir):
    server.configure(server.ServerLimits(public=True))
    queue = TrainingQueue(TrainingJob)
    mine = queue.submit(TrainConfig(**SMALL, steps=100_000), "mine", False, owner="alice")
    with pytest.raises(ValueError, match="one at a time per person"):
        queue.submit(TrainConfig(**SMALL, steps=5), "second", False, owner="alice")
    wait_until(lambda: mine.job.snapshot().step >= 2)
    queue.cancel("alice")
    assert mine.done.wait(60)
    assert read_owner(models_dir / "mine") == owner_mark("alice") != "alice", "a hash, not the session id"
    with pytest.raises(ValueError, match="only its owner may resume it"):
        queue.submit(TrainConfig(**SMALL, steps=100_000), "mine", True, owner="mallory")
    again = queue.submit(TrainConfig(**SMALL, steps=100_000), "mine", True, owner="alice")
    wait_until(lambda: again.job is not None and again.job.snapshot().step > mine.job.snapshot().step)
    queue.cancel("alice")
    assert again.done.wait(60)


def test_each_of_a_persons_jobs_is_listed_and_can_be_cancelled_by_name(models_dir):
    queue = TrainingQueue(TrainingJob)
    first = queue.submit(TrainConfig(**SMALL, steps=100_000), "first", False, owner="alice")
    second = queue.submit(TrainConfig(**SMALL, steps=5), "second", False, owner="alice")
    other = queue.submit(TrainConfig(**SMALL, steps=5), "other", False, owner="bob")
    assert [t.name for t in queue.jobs_of("alice")] == ["first", "second"] and queue.jobs_of("carol") == []
    assert [t.state for t in queue.jobs_of("alice")] == ["running", "waiting"]
    assert "left the queue" in queue.cancel("alice", "second"), "an earlier waiting job, not only the latest"
    assert second.cancelled and second.state == "cancelled" and queue.waiting() == [other]
    server.configure(server.ServerLimits(public=True))
    with pytest.raises(ValueError, match="no training job of yours called 'other'"):
        queue.cancel("alice", "other")  # on a public server, bob's job is bob's
    with pytest.raises(ValueError, match="no training job of yours called 'nothing'"):
        queue.cancel("alice", "nothing")
    assert "left the queue" in queue.cancel("bob", "other")
    assert "cancelling **first**" in queue.cancel("alice")
    assert first.done.wait(60)


def test_on_a_public_server_one_person_keeps_at_most_their_share_of_models(models_dir):
    server.configure(server.ServerLimits(public=True, models_per_person=2))
    queue = TrainingQueue(TrainingJob)
    for name in ("a1", "a2"):
        assert queue.submit(TrainConfig(**SMALL, steps=2), name, False, owner="alice").done.wait(60)
    with pytest.raises(ValueError, match="you have 2 trained models on this server"):
        queue.submit(TrainConfig(**SMALL, steps=2), "a3", False, owner="alice")
    assert queue.submit(TrainConfig(**SMALL, steps=2), "b1", False, owner="bob").done.wait(60), "bob has his own"
    assert queue.submit(TrainConfig(**SMALL, steps=2), "a1", True, owner="alice").done.wait(60), "resuming is free"


def test_a_public_servers_owner_is_the_client_address_so_raw_api_calls_share_it(models_dir):
    from types import SimpleNamespace

    from explorer.ui.training_tab import owner_of

    def request(session, forwarded=None, host="10.0.0.9"):
        headers = {"x-forwarded-for": forwarded} if forwarded else {}
        return SimpleNamespace(session_hash=session, headers=headers, client=SimpleNamespace(host=host))

    assert owner_of(request("s1")) == "s1" != owner_of(request("s2")), "a private server: the browser session"
    server.configure(server.ServerLimits(public=True))
    assert owner_of(request("s1")) == owner_of(request("s2")) == "address 10.0.0.9"
    spoofed = request("s3", forwarded="1.2.3.4, 203.0.113.7")
    assert owner_of(spoofed) == "address 203.0.113.7", "the entry the host's proxy added, not the client's claim"


def test_resuming_a_model_that_does_not_exist_says_so_by_name(models_dir):
    with pytest.raises(ValueError, match="there is no trained model called 'ghost' to resume") as caught:
        TrainingQueue(TrainingJob).submit(TrainConfig(**SMALL, steps=5), "ghost", True, owner="a")
    assert str(models_dir) not in str(caught.value), "no server path"


def test_a_job_that_runs_out_of_memory_stops_with_a_message_and_the_next_one_starts(models_dir):
    def make_job(trainer):
        if trainer.out.name == "greedy":

            def out_of_memory():
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

            trainer.train_step = out_of_memory
        return TrainingJob(trainer)

    queue = TrainingQueue(make_job)
    greedy = queue.submit(TrainConfig(**SMALL, steps=20), "greedy", False, owner="a")
    modest = queue.submit(TrainConfig(**SMALL, steps=20), "modest", False, owner="b")
    assert greedy.done.wait(60) and modest.done.wait(60)
    failed = greedy.job.snapshot()
    assert failed.status == "failed" and "ran out of memory at step 0" in failed.message
    assert "memory was released" in failed.message
    assert modest.job.snapshot().status == "done"


def test_a_queued_job_that_cannot_start_reports_why_and_the_line_moves_on(models_dir):
    queue = TrainingQueue(TrainingJob)
    first = queue.submit(TrainConfig(**SMALL, steps=30), "first", False, owner="a")
    (models_dir / "garbled").mkdir()
    (models_dir / "garbled" / "config.json").write_text("{not json")  # refused only when its turn comes
    broken = queue.submit(TrainConfig(**SMALL, steps=20), "garbled", True, owner="b")
    last = queue.submit(TrainConfig(**SMALL, steps=20), "last", False, owner="c")
    assert first.done.wait(60) and broken.done.wait(60) and last.done.wait(60)
    assert broken.job is None and "could not start" in broken.error and "not valid JSON" in broken.error
    assert last.job.snapshot().status == "done"


def test_the_output_folder_is_pruned_by_age_then_by_size(tmp_path):
    from explorer.store.files import prune_folder

    now = time.time()
    for i, (age, size) in enumerate([(7200, 10), (300, 400), (200, 400), (100, 400)]):
        path = tmp_path / f"f{i}.gif"
        path.write_bytes(b"x" * size)
        os.utime(path, (now - age, now - age))
    prune_folder(tmp_path, max_age_s=3600, max_bytes=1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f2.gif", "f3.gif"]  # too old, then the oldest


def test_gpu_calls_are_wrapped_by_spaces_only_where_it_is_installed(monkeypatch):
    import importlib

    from explorer.ui import common

    def plain(x):
        return x + 1

    local = common.gpu_call(plain)  # no `spaces` package here: only the activity mark (explorer.activity)
    assert local(1) == 2 and local.__wrapped__ is plain and local.marks_activity
    wrapped = []
    fake = types.ModuleType("spaces")
    fake.GPU = lambda duration: lambda fn: wrapped.append((fn, duration)) or fn
    monkeypatch.setitem(sys.modules, "spaces", fake)
    try:
        importlib.reload(common)
        assert common.gpu_call(plain)(1) == 2 and wrapped == [(plain, common.GPU_CALL_S)]
    finally:
        monkeypatch.delitem(sys.modules, "spaces")
        importlib.reload(common)
    assert common.spaces is None


def test_zero_gpu_hardware_trains_on_the_cpu(monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert server.training_device() == "cpu"
    monkeypatch.delenv("SPACES_ZERO_GPU")
    assert server.training_device() is None


def test_a_read_only_server_has_no_training(models_dir):
    from gradio_client import Client

    from tests.appserver import running_app

    server.configure(server.ServerLimits(read_only=True))
    with running_app() as url:
        client = Client(url, download_files=False, verbose=False)
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert "/train_start" not in endpoints and "/reverse_sample" in endpoints
        info = client.predict("spiral-mlp", 100, 0, "beta_tilde", False, "any", 1.0, False, "",
                              api_name="/reverse_sample")[-2]  # fmt: skip
        assert "t = 0 of 1000" in info


def test_the_request_rate_gives_each_client_a_refilling_share():
    from explorer.serve.rate import RequestRate

    now = [0.0]
    rate = RequestRate(per_s=10, burst=30, clock=lambda: now[0])
    assert [rate.admit("alice", 10) for _ in range(3)] == [None, None, None], "a burst of three pages"
    assert rate.admit("alice", 10) == pytest.approx(1.0), "empty: 10 tokens come back in 1 s"
    assert rate.admit("alice", 1) == pytest.approx(0.1), "a refusal spends nothing"
    assert rate.admit("bob", 10) is None, "each client has their own bucket"
    now[0] = 0.5
    assert rate.admit("alice", 1) is None and rate.admit("alice", 10) == pytest.approx(0.6)
    now[0] = 100.0
    assert [rate.admit("alice", 10) for _ in range(4)][-1] == pytest.approx(1.0), "refilled only to the burst"
    assert rate.admit("alice", 50) == pytest.approx(3.0), "a cost above the burst waits for a full bucket"
    with pytest.raises(ValueError):
        RequestRate(per_s=0)


def test_the_disk_budget_bounds_each_clients_upload_rate_and_the_cache(tmp_path):
    from explorer.serve.disk import DiskBudget

    now = [0.0]
    cache = tmp_path / "cache"
    budget = DiskBudget(lambda: cache, max_bytes=3000, max_age_s=3600, per_client_bytes=2500, window_s=600,
                        clock=lambda: now[0])  # fmt: skip
    assert budget.admit("alice", 1000) is None and budget.admit("alice", 1000) is None
    refusal = budget.admit("alice", 1000)
    assert refusal.startswith("upload limit reached: 0 MB of 0 MB in 10 minutes") and "try again in 600 s" in refusal
    assert budget.admit("bob", 1000) is None, "each client has their own share"
    now[0] = 601.0
    assert budget.admit("alice", 1000) is None, "the window has moved on"
    for i in range(6):  # uploads and returned files in per-request subfolders, as Gradio stores them
        (cache / f"h{i}").mkdir(parents=True)
        (cache / f"h{i}" / "x.gif").write_bytes(b"\0" * 1000)
        os.utime(cache / f"h{i}" / "x.gif", (time.time() - 60 + i, time.time() - 60 + i))
    assert budget.prune(force=True) <= 3000
    assert sorted(p.name for p in cache.iterdir()) == ["h3", "h4", "h5"], "the oldest went, and their folders"
    assert budget.prune() is None, "not walked again within PRUNE_EVERY_S"
    assert budget.admit("carol", 2000) is None and sorted(p.name for p in cache.iterdir()) == ["h5"], "room made"


def test_a_request_that_runs_out_of_device_memory_gets_a_message_and_frees_the_memory(monkeypatch):
    """A sampling request that exhausts the GPU (shared with a training job) answers with what to do and
    returns the cached memory, instead of a stack trace; other errors keep their own messages."""
    import gradio as gr
    import torch

    from explorer.ui import common

    released = []
    monkeypatch.setattr(common, "release_device", lambda device: released.append(device))

    @common.user_errors
    def greedy():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with pytest.raises(gr.Error, match="ran out of memory for this request") as caught:
        greedy()
    assert "fewer samples or steps" in str(caught.value) and released == [common.model_device()]

    @common.user_errors
    def mps_greedy():
        raise RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)")

    with pytest.raises(gr.Error, match="ran out of memory"):
        mps_greedy()
    assert len(released) == 2

    @common.user_errors
    def wrong():
        raise ValueError("steps must be between 1 and 1000")

    with pytest.raises(gr.Error, match="steps must be between"):
        wrong()
    assert len(released) == 2
