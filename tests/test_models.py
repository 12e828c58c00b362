"""The time-conditioned MLP: shapes, the embedding, and real dependence on t."""

import math

import pytest
import torch

from explorer.models.networks import (
    MLPConfig,
    TimeMLP,
    build_model,
    count_parameters,
    model_hyper,
    sinusoidal_embedding,
)


def test_sinusoidal_embedding_values():
    emb = sinusoidal_embedding(torch.tensor([0, 10]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    freqs = [math.exp(-math.log(10_000) * i / 4) for i in range(4)]
    torch.testing.assert_close(emb[1, :4], torch.tensor([math.sin(10 * f) for f in freqs]))
    torch.testing.assert_close(emb[1, 4:], torch.tensor([math.cos(10 * f) for f in freqs]))


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = TimeMLP(MLPConfig(width=32, depth=2))
    with torch.no_grad():  # move off the identity initialisation so every path carries signal
        for p in m.parameters():
            p.normal_(0, 0.3)
    return m


def test_shapes_and_time_conditioning(model):
    x = torch.randn(5, 2)
    out = model(x, torch.full((5,), 10))
    assert out.shape == (5, 2)
    assert not torch.allclose(out, model(x, torch.full((5,), 900))), "the output depends on t"
    torch.testing.assert_close(model(x, torch.tensor(10)), out)  # a shared 0-d t is the same as a batch of t's
    mixed = model(x, torch.tensor([10, 900, 10, 900, 10]))
    torch.testing.assert_close(mixed[0], out[0])


def test_registry_rebuilds_from_hyper(model):
    rebuilt = build_model("mlp", model_hyper(model))
    assert count_parameters(rebuilt) == count_parameters(model)
    with pytest.raises(ValueError, match="unknown model 'transformer'"):
        build_model("transformer", {})
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        build_model("mlp", {"heads": 4})


@pytest.mark.parametrize("size, channels, mults", [(8, 1, (1, 2)), (16, 3, (1, 2, 2)), (32, 3, (1, 2, 2, 2))])
def test_unet_shapes_and_time_conditioning(size, channels, mults):
    from explorer.models.networks import UNet, UNetConfig

    torch.manual_seed(0)
    model = UNet(UNetConfig(channels=channels, size=size, base=16, mults=mults, blocks=1))
    with torch.no_grad():
        for p in model.parameters():  # off the zero-initialised residual branches
            p.normal_(0, 0.05)
        x = torch.randn(3, channels, size, size)
        out = model(x, torch.full((3,), 10))
        assert out.shape == x.shape
        assert not torch.allclose(out, model(x, torch.full((3,), 900)))
        torch.testing.assert_close(model(x, torch.tensor(10)), out)


def test_unet_refuses_sizes_it_cannot_halve():
    from explorer.models.networks import UNet, UNetConfig

    with pytest.raises(ValueError, match="divisible by 4"):
        UNet(UNetConfig(size=10, mults=(1, 2, 2)))


def test_unet_hyper_survives_json():
    import json

    from explorer.models.networks import UNet, UNetConfig

    model = UNet(UNetConfig(base=16, mults=(1, 2), blocks=1))
    rebuilt = build_model("unet", json.loads(json.dumps(model_hyper(model))))  # tuples come back as lists
    assert count_parameters(rebuilt) == count_parameters(model)
