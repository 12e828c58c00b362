"""Training on lent GPU time (ZeroGPU): chunks of steps inside calls of bounded duration, the state
carried between them by value, with the same result as one uninterrupted run."""

import pickle
import sys
import threading
import time
import types

import pytest
import torch

from explorer.training.chunks import CHUNK_BUDGET, ChunkedSteps, chunkable, lent_gpu_steps, train_chunk
from explorer.training.config import TrainConfig
from explorer.training.trainer import Progress, Trainer, run_training

SMALL = TrainConfig(width=32, depth=2, steps=120, batch=128, n_data=1000, checkpoint_every=50, T=100, warmup=10)


class OverTime(RuntimeError):
    pass


def fake_spaces(calls: list[float]) -> types.ModuleType:
    """A stand-in for the `spaces` package that behaves as ZeroGPU does where it matters here: the
    wrapped function gets its arguments and returns its result by value (another process), and a call
    that runs past its duration is aborted."""
    module = types.ModuleType("spaces")

    def gpu(duration: float):
        def wrap(fn):
            def lent(*args):
                args = pickle.loads(pickle.dumps(args))
                start = time.perf_counter()
                result = fn(*args)
                calls.append(time.perf_counter() - start)
                if calls[-1] > duration:
                    raise OverTime(f"GPU task aborted after {duration} s")
                return pickle.loads(pickle.dumps(result))

            return lent

        return wrap

    module.GPU = gpu
    return module


def train(tmp_path, name, advance=None):
    trainer = Trainer(SMALL, tmp_path / name, device="cpu")
    kwargs = {} if advance is None else {"advance": advance}
    progress = run_training(trainer, Progress(), threading.Event(), threading.Lock(), preview_every=40, **kwargs)
    return trainer, progress


def test_a_run_in_chunks_of_bounded_time_ends_where_an_uninterrupted_run_ends(tmp_path):
    straight, _ = train(tmp_path, "straight")
    calls: list[float] = []
    duration = 30.0
    chunks = lent_gpu_steps(fake_spaces(calls), duration, device="cpu")
    chunked, progress = train(tmp_path, "chunked", chunks)
    assert progress.status == "done" and chunked.step == SMALL.steps
    # a chunk never runs past the next preview (1, 40, 80, 120) or checkpoint (50, 100): six calls at least
    assert chunks.calls == len(calls) >= 6 and max(calls) < duration, calls
    assert [s for s, _ in progress.losses] == list(range(1, 121)), "every step's loss reported once, in order"
    for key, value in straight.ema.state_dict().items():
        torch.testing.assert_close(chunked.ema.state_dict()[key], value, rtol=0, atol=0)
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(chunked.model.state_dict()[key], value, rtol=0, atol=0)


def test_a_chunk_stops_at_its_step_count_its_time_budget_and_a_loss_that_is_not_finite():
    trainer = Trainer(SMALL, "unused", device="cpu")
    state, losses = train_chunk(SMALL, trainer.run_state(), 0, 7, 60.0, "cpu")
    assert len(losses) == 7 and all(torch.isfinite(torch.tensor(losses)))
    _, losses = train_chunk(SMALL, trainer.run_state(), 0, 100_000, 0.0, "cpu")
    assert len(losses) == 1, "with no time left a chunk still takes one step, so a run always moves"
    _, losses = train_chunk(SMALL, trainer.run_state(), 0, 100_000, 0.2, "cpu")
    assert 1 < len(losses) < 100_000
    trainer.load_run_state(state, 7)
    bad = {k: (v * float("nan") if k.startswith("model.") and v.is_floating_point() else v) for k, v in state.items()}
    _, losses = train_chunk(SMALL, bad, 7, 5, 60.0, "cpu")
    assert len(losses) == 1 and not torch.isfinite(torch.tensor(losses[0]))


def test_a_nan_in_a_chunk_fails_the_run_and_keeps_the_last_checkpoint(tmp_path):
    """As in a local run: the non-finite step is not applied and the message names it."""

    def poisoned(config, state, step, steps, budget, device):
        if step >= 50:
            return state, [float("nan")]
        return train_chunk(config, state, step, steps, budget, device)

    trainer, progress = train(tmp_path, "nan", ChunkedSteps(poisoned, "cpu", 10.0))
    assert progress.status == "failed" and "at step 51" in progress.message and "(step 50) is kept" in progress.message
    assert trainer.step == 50


def test_the_app_trains_in_chunks_only_on_zero_gpu_hardware_with_spaces(monkeypatch):
    from explorer.ui import training_tab

    trainer = Trainer(SMALL, "unused", device="cpu")
    assert not isinstance(training_tab.make_job(trainer)._advance, ChunkedSteps)  # no spaces here
    monkeypatch.setitem(sys.modules, "spaces", fake_spaces([]))
    monkeypatch.setattr(training_tab, "spaces_module", lambda: sys.modules["spaces"])
    assert not isinstance(training_tab.make_job(trainer)._advance, ChunkedSteps)  # spaces, but not ZeroGPU
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    advance = training_tab.make_job(trainer)._advance
    assert isinstance(advance, ChunkedSteps) and advance.device == "cuda"
    assert advance.duration_s * CHUNK_BUDGET < advance.duration_s
    pooled = Trainer.__new__(Trainer)
    pooled.config = TrainConfig(schedule="flow", prediction="flow", coupling="ot", ot_pairs=4096).validated()
    assert not chunkable(pooled.config)  # its pool takes minutes to pair: such runs stay on the CPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_chunk_on_the_gpu_carries_its_generator_from_call_to_call(tmp_path):
    """On a GPU the lent device's generator state travels with the run: no two chunks draw the same batches."""
    chunks = lent_gpu_steps(fake_spaces([]), 30.0, device="cuda")
    trainer, progress = train(tmp_path, "gpu", chunks)
    assert progress.status == "done" and chunks.rng is not None and chunks.rng.numel() < 100
    firsts = [loss for step, loss in progress.losses if step % 50 == 1]
    assert len(set(firsts)) == len(firsts)
