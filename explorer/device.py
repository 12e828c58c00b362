"""Choosing the compute device once: cuda, then mps, then cpu, unless overridden."""

from __future__ import annotations

import os

import torch

DEVICE_ENV = "EXPLORER_DEVICE"


def pick_device(override: str | None = None) -> torch.device:
    """The device to use: `override` (or $EXPLORER_DEVICE) if given, else cuda, mps, cpu."""
    name = override or os.environ.get(DEVICE_ENV)
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for but CUDA is not available here")
        if name == "mps" and not torch.backends.mps.is_available():
            raise ValueError("device 'mps' was asked for but MPS is not available here")
        try:
            return torch.device(name)
        except RuntimeError:
            raise ValueError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
