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
