"""One seed, one picture on every device: runs draw from a CPU generator and move the draws."""

import pytest
import torch

from explorer.core import draws


def test_draws_come_from_the_generators_own_device_then_move():
    gen = torch.Generator().manual_seed(5)
    z = draws.randn((3, 4), gen, "meta")
    assert z.device.type == "meta" and gen.initial_seed() == 5
    assert torch.equal(draws.randn((3, 4), torch.Generator().manual_seed(5), "cpu"),
                       torch.randn(3, 4, generator=torch.Generator().manual_seed(5)))  # fmt: skip
    k = draws.randint(17, (1000,), torch.Generator().manual_seed(1), "cpu")
    assert k.min() >= 0 and k.max() == 16
    u = draws.rand((1000,), torch.Generator().manual_seed(1), "cpu", torch.float64)
    assert u.dtype == torch.float64 and float(u.min()) >= 0 and float(u.max()) < 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_a_seed_gives_the_same_samples_on_the_gpu_as_on_the_cpu(sampler):
    from explorer.runs.common import trajectory
    from explorer.sampling.registry import SamplerSettings
    from explorer.store.registry import ModelRegistry

    registry = ModelRegistry()
    runs = {}
    for device in ("cpu", "cuda"):
        handle = registry.handle("spiral-mlp", device)
        settings = SamplerSettings(sampler, 50, spacing="trailing")
        runs[device] = trajectory(handle, handle.schedule, 500, 3, settings, {0})[1][-1]
    torch.testing.assert_close(runs["cuda"], runs["cpu"], rtol=1e-3, atol=1e-3)


def test_the_registry_loads_onto_the_gpu_where_there_is_one_and_the_cpu_elsewhere(monkeypatch):
    """config.model_device: $EXPLORER_DEVICE, else cuda, else the CPU; never the GPU on ZeroGPU hardware,
    which lends it only inside a wrapped call (the registry keeps models between calls)."""
    from explorer.config import model_device

    monkeypatch.delenv("EXPLORER_DEVICE", raising=False)
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert model_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert model_device().type == "cpu"
    monkeypatch.setenv("EXPLORER_DEVICE", "cpu")
    assert model_device().type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_every_run_gives_the_cpus_answer_on_the_gpu(monkeypatch):
    """Each run moves its inputs to the model's device and its results back: run on the default
    device (cuda) and again with $EXPLORER_DEVICE=cpu, the same seed gives the same numbers."""
    from explorer.runs.compare import CompareSettings, run_comparison
    from explorer.runs.discrete import DiscreteSettings, run_discrete
    from explorer.runs.flow import FlowComparisonSettings, run_flow_comparison
    from explorer.runs.guidance import SweepSettings, run_sweep
    from explorer.runs.latent import InterpolationSettings, LatentSettings, run_interpolation, run_invert
    from explorer.runs.likelihood import ElboSettings, NllSettings, run_elbo, run_nll
    from explorer.runs.reverse import ReverseSettings, run_reverse
    from explorer.runs.score import ScoreSettings, run_score_field
    from explorer.sampling.registry import SamplerSettings
    from explorer.store.registry import REGISTRY

    configs = (SamplerSettings("unipc", 10, spacing="logsnr"), SamplerSettings("ddim", 20, spacing="trailing"))
    runs = {
        "invert": lambda: run_invert(LatentSettings("spiral-mlp", steps=20, n=200)).mse,
        "interpolate": lambda: float(
            abs(run_interpolation(InterpolationSettings("spiral-mlp", steps=20))[0].decoded["slerp"]).mean()
        ),  # fmt: skip
        "flow": lambda: run_flow_comparison(FlowComparisonSettings(("spiral-flow", "spiral-otflow"))).quality[
            "spiral-otflow"
        ][1],  # fmt: skip
        "score": lambda: run_score_field(ScoreSettings("spiral-mlp")).frames[0].relative_error,
        "elbo": lambda: run_elbo(ElboSettings("spiral-mlp", n=200, every=50)).terms.total,
        "nll": lambda: run_nll(NllSettings("spiral-mlp", n=100, steps=20)).mean,
        "ideal reverse": lambda: float(run_reverse(ReverseSettings("spiral-mlp", n=200, ideal=True)).distances[-1]),
        "compare": lambda: run_comparison(CompareSettings("spiral-ve", configs, n=500)).runs[0].quality,
        "guidance": lambda: run_sweep(SweepSettings("patterns-cond", n=200, steps=20)).precision[1.0],
        "d3pm": lambda: float(run_discrete(DiscreteSettings("digits-absorbing", n=4, steps=20)).samples.float().mean()),
    }
    monkeypatch.delenv("EXPLORER_DEVICE", raising=False)
    assert REGISTRY.handle("spiral-mlp").device.type == "cuda"
    on_gpu = {name: run() for name, run in runs.items()}
    monkeypatch.setenv("EXPLORER_DEVICE", "cpu")
    assert REGISTRY.handle("spiral-mlp").device.type == "cpu"
    on_cpu = {name: run() for name, run in runs.items()}
    for name in runs:
        assert on_gpu[name] == pytest.approx(on_cpu[name], rel=0.05, abs=1e-4), name
