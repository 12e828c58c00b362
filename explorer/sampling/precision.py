"""Mixed precision: the network runs under autocast in bf16 or fp16, the sampler's arithmetic in float32.

The samplers' updates (sampling.gaussian, sampling.multistep) combine x_t and the model's estimates
with schedule coefficients that span decades near t = 0; only the network's matrix products and
convolutions are cast down, and its output comes back in the state's dtype before any update.
Its effect on sample quality is measured in benchmarks/precision.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from explorer.sampling.gaussian import Denoiser

PRECISIONS = ("fp32", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Autocast:
    """A denoiser whose network runs under torch.autocast in `dtype` on the input's device."""

    model: Denoiser
    dtype: torch.dtype

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=self.dtype, cache_enabled=False):  # capturable (sampling.graphs)
            out = self.model(x, t)
        return out.to(x.dtype)


def with_precision(model: Denoiser, precision: str) -> Denoiser:
    """`model` as it runs at `precision`: itself at fp32, else under autocast (ValueError names the choices)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {list(PRECISIONS)}")
    return model if precision == "fp32" else Autocast(model, AUTOCAST_DTYPES[precision])
