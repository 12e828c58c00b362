"""Seeded draws that give the same numbers on every device.

Each draw is made on its generator's own device and then moved to where the computation lives.
The runs (sampling, inversion, D3PM generation) seed a CPU generator, so a seed gives the same
x_T and the same noise on cpu, cuda and mps; a training loop keeps a generator on its device and
pays no transfer.
"""

from __future__ import annotations

import torch


def randn(
    shape: tuple[int, ...] | torch.Size, generator: torch.Generator, device: torch.device | str,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:  # fmt: skip
    """N(0, I) of `shape` from `generator`, on `device`."""
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def rand(
    shape: tuple[int, ...] | torch.Size, generator: torch.Generator, device: torch.device | str,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:  # fmt: skip
    """U[0, 1) of `shape` from `generator`, on `device`."""
    return torch.rand(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def randint(
    high: int, shape: tuple[int, ...] | torch.Size, generator: torch.Generator, device: torch.device | str
) -> torch.Tensor:
    """Integers uniform on 0..high-1 of `shape` from `generator`, on `device`."""
    return torch.randint(0, high, shape, generator=generator, device=generator.device).to(device)
