"""Mixed precision: the network under autocast, the sampler in float32."""

import pytest
import torch

from explorer.evaluation.metrics import mean_spiral_distance
from explorer.runs.common import trajectory
from explorer.sampling.precision import Autocast, with_precision
from explorer.sampling.registry import SamplerSettings
from explorer.store.registry import load_model


def test_fp32_is_the_network_itself_and_other_names_are_refused():
    loaded, _ = load_model("spiral-mlp")
    assert with_precision(loaded.model, "fp32") is loaded.model
    with pytest.raises(ValueError, match="unknown precision 'fp8'; choose from"):
        with_precision(loaded.model, "fp8")


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_the_network_runs_cast_down_and_answers_in_the_states_dtype(precision, dtype):
    """Under autocast the MLP's products round to `dtype` (8 or 11 bits of mantissa): the output
    differs from float32 by about that rounding, and comes back as float32."""
    loaded, _ = load_model("spiral-mlp")
    x, t = torch.randn(256, 2, generator=torch.Generator().manual_seed(0)), torch.full((), 500)
    cast = with_precision(loaded.model, precision)
    assert isinstance(cast, Autocast) and cast.dtype == dtype
    with torch.no_grad():
        full, low = loaded.model(x, t), cast(x, t)
    assert low.dtype == torch.float32 and not torch.equal(low, full)
    relative = float((low - full).norm() / full.norm())
    bits = 8 if dtype == torch.bfloat16 else 11
    assert 2.0 ** -(bits + 4) < relative < 2.0 ** -(bits - 3), relative


def test_bf16_samples_stay_on_the_spiral():
    """UniPC-10 on spiral-mlp, 2,000 points: bf16 moves each sample by a few thousandths and keeps the
    spiral distance within 1.5x of float32's (benchmarks/precision.py has the full table)."""
    loaded, schedule = load_model("spiral-mlp")
    config = SamplerSettings("unipc", 10, spacing="logsnr", clip_x0=1.5)
    full = trajectory(loaded, schedule, 2000, 0, config, {0})[1][-1]
    low = trajectory(loaded, schedule, 2000, 0, config, {0}, model=with_precision(loaded.model, "bf16"))[1][-1]
    assert low.dtype == torch.float32 and float((low - full).norm(dim=1).mean()) < 0.01
    assert mean_spiral_distance(low) < 1.5 * mean_spiral_distance(full)
