"""CUDA graphs for the network's forward pass (explorer.sampling.graphs): the buffer logic on the CPU
through the `rerun` backend, the eager fallbacks, and graphed against eager samples on a GPU."""

import logging

import pytest
import torch

from explorer.runs.common import trajectory
from explorer.sampling.graphs import Graphed, rerun
from explorer.sampling.registry import SamplerSettings
from explorer.store.registry import ModelRegistry

CONFIGS = [SamplerSettings("ddpm", 40, spacing="trailing"), SamplerSettings("unipc", 10, spacing="logsnr"),
           SamplerSettings("heun", 8, spacing="karras"), SamplerSettings("ipndm", 10, spacing="logsnr")]  # fmt: skip


def samples(handle, config: SamplerSettings, model=None, n: int = 300) -> torch.Tensor:
    return trajectory(handle, handle.schedule, n, 7, config, {0}, model=model)[1][-1]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.name)
def test_replaying_over_static_buffers_gives_the_eager_samples(config):
    """Every step copies (x, t) into one shape's buffers and replays into one output buffer. The
    solvers keep earlier outputs (Heun its first slope, iPNDM its last three eps of an eps model), so
    each answer must be a copy of that buffer: returning the buffer itself fails heun and ipndm here."""
    handle = ModelRegistry().handle("two_moons-mlp", "cpu")  # predicts eps, which the solvers keep as given
    graphed = Graphed(handle.model, backend=rerun)
    assert torch.equal(samples(handle, config, graphed), samples(handle, config))
    assert graphed.shapes == 1 and graphed.failed is None


def test_each_shape_is_recorded_at_its_second_call_and_the_oldest_are_let_go():
    recorded = []

    def counting(model, x, t):
        recorded.append(tuple(x.shape)[0])
        return rerun(model, x, t)

    graphed = Graphed(lambda x, t: 2 * x + t, backend=counting, max_shapes=2)
    with torch.no_grad():
        for n in (3, 3, 4, 4, 5, 5, 4, 3, 7):
            x = torch.full((n, 2), float(n))
            assert torch.equal(graphed(x, torch.tensor(1.0)), 2 * x + 1)
    # a first call runs eagerly (a capture stalls the device: not for a one-off call); 5 lets go of 3,
    # the least recently used, so 3 is recorded again (letting go of 5); 7 was called once: not recorded
    assert recorded == [3, 4, 5, 3] and graphed.shapes == 2


def test_off_the_gpu_with_gradients_or_extra_arguments_the_network_runs_eagerly():
    seen = []

    def network(x, t, y=None):
        seen.append(y)
        return x * 0 + t

    x, t = torch.ones(2, 2), torch.tensor(3.0)
    on_cpu = Graphed(network)  # the CUDA backend on a CPU tensor
    with torch.no_grad():
        assert torch.equal(on_cpu(x, t), torch.full((2, 2), 3.0))
    assert on_cpu.shapes == 0
    local = Graphed(network, backend=rerun)
    local(x, t)  # gradients on: a backward pass needs the eager graph
    with torch.no_grad():
        local(x, t, torch.tensor([1, 2]))  # a class label: guidance's call
    assert local.shapes == 0 and len(seen) == 3


def test_a_capture_that_fails_warns_once_and_stays_eager(caplog):
    def cannot_capture(model, x, t):
        raise RuntimeError("operation not permitted when stream is capturing")

    graphed = Graphed(lambda x, t: x + t, backend=cannot_capture)
    with caplog.at_level(logging.WARNING), torch.no_grad():
        for _ in range(3):
            assert torch.equal(graphed(torch.ones(2), torch.tensor(1.0)), torch.full((2,), 2.0))
    assert "not permitted" in graphed.failed and graphed.shapes == 0
    assert sum("capture failed" in r.message for r in caplog.records) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("name", ["spiral-mlp", "digits-unet"])
@pytest.mark.parametrize("config", CONFIGS[:2], ids=lambda c: c.name)
def test_cuda_graphs_give_the_eager_samples_on_the_gpu(name, config):
    handle = ModelRegistry().handle(name, "cuda")
    graphed = Graphed(handle.model)
    n = 300 if name.startswith("spiral") else 16
    got, want = samples(handle, config, graphed, n), samples(handle, config, n=n)
    assert graphed.failed is None and graphed.shapes == 1
    torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)


def test_the_registry_graphs_only_gaussian_models_on_a_gpu_and_only_when_asked(monkeypatch):
    from explorer.core.guidance import Conditioning
    from explorer.store.registry import graphs_for

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    monkeypatch.delenv("EXPLORER_CUDA_GRAPHS", raising=False)
    assert not graphs_for(cuda, False)  # off unless asked
    monkeypatch.setenv("EXPLORER_CUDA_GRAPHS", "1")
    assert graphs_for(cuda, False) and not graphs_for(cuda, True) and not graphs_for(cpu, False)
    handle = ModelRegistry().handle("spiral-mlp", "cpu")
    assert handle.graphed is None and handle.network is handle.model  # a CPU model runs eagerly
    guided = ModelRegistry().handle("patterns-cond", "cpu").network_for(Conditioning(1, 2.0))
    assert type(guided).__name__ == "Guided"  # a class asked for: the guided model, whatever the network


def test_an_out_of_memory_capture_is_the_requests_error_and_keeps_graphs_on():
    def out_of_memory(model, x, t):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    graphed = Graphed(lambda x, t: x + t, backend=out_of_memory)
    with torch.no_grad():
        graphed(torch.ones(2), torch.tensor(1.0))  # a first call runs eagerly
    with pytest.raises(torch.OutOfMemoryError), torch.no_grad():
        graphed(torch.ones(2), torch.tensor(1.0))  # the second records, and meets the full device
    assert graphed.failed is None  # the next request may capture once memory is free


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_with_cuda_graphs_on_the_apps_runs_replay_them_and_give_the_eager_answer(monkeypatch):
    """$EXPLORER_CUDA_GRAPHS=1: the registry's GPU models carry a Graphed network, which every trajectory
    (Reverse, Compare, curves) samples through; the Reverse default's samples match the eager ones."""
    from explorer.runs.reverse import ReverseSettings, run_reverse
    from explorer.store.registry import REGISTRY

    settings = ReverseSettings("spiral-mlp", n=1000)
    try:
        REGISTRY.invalidate("spiral-mlp")
        eager = run_reverse(settings).xs[-1]
        monkeypatch.setenv("EXPLORER_CUDA_GRAPHS", "1")
        REGISTRY.invalidate("spiral-mlp")
        graphed = run_reverse(settings).xs[-1]
        handle = REGISTRY.handle("spiral-mlp")
        assert handle.graphed is not None and handle.graphed.shapes == 1 and handle.graphed.failed is None
    finally:
        REGISTRY.invalidate("spiral-mlp")  # the next tests load it eagerly again
    torch.testing.assert_close(torch.from_numpy(graphed), torch.from_numpy(eager), rtol=1e-3, atol=1e-3)
