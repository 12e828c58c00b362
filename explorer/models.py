"""Denoising networks: a time-conditioned MLP for points.

Every model maps (x_t, t) to a prediction of the same shape as x_t; what it predicts
(eps, x0 or v) is a training setting that the sampling code converts from. `t` is the
0-based schedule index, a (B,) tensor or a 0-d tensor shared by the whole batch, in
which case the time embedding is computed once (it is a large share of a small MLP's work).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

PREDICTIONS = ("eps", "x0", "v")


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style embedding of timesteps (B,) -> (B, dim): sin and cos of t at
    geometrically spaced frequencies from 1 to 1/max_period (Vaswani et al. 2017, sec. 3.5)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


@dataclass(frozen=True)
class MLPConfig:
    """Hyper-parameters of TimeMLP."""

    dim: int = 2
    width: int = 128
    depth: int = 3
    time_dim: int = 64


class ResidualBlock(nn.Module):
    """h + W2 silu(W1 silu(norm h) + Wt temb): a pre-norm block conditioned on time."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.lin1 = nn.Linear(width, width)
        self.time = nn.Linear(width, width)
        self.lin2 = nn.Linear(width, width)
        nn.init.zeros_(self.lin2.weight)  # each block starts as the identity
        nn.init.zeros_(self.lin2.bias)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        inner = torch.nn.functional.silu(self.lin1(torch.nn.functional.silu(self.norm(h))) + self.time(temb))
        return h + self.lin2(torch.nn.functional.silu(inner))


class TimeMLP(nn.Module):
    """A residual MLP for points (B, dim) conditioned on the timestep by a sinusoidal embedding."""

    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.time_mlp = nn.Sequential(nn.Linear(config.time_dim, w), nn.SiLU(), nn.Linear(w, w))
        self.inp = nn.Linear(config.dim, w)
        self.blocks = nn.ModuleList(ResidualBlock(w) for _ in range(config.depth))
        self.out = nn.Sequential(nn.LayerNorm(w), nn.SiLU(), nn.Linear(w, config.dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device)
        shared = t.dim() == 0
        temb = self.time_mlp(sinusoidal_embedding(t.reshape(1) if shared else t, self.config.time_dim))  # (B|1, W)
        h = self.inp(x)  # (B, W)
        for block in self.blocks:
            h = block(h, temb)
        return self.out(h)


MODELS: dict[str, tuple[type, type]] = {"mlp": (TimeMLP, MLPConfig)}


def build_model(name: str, hyper: dict[str, Any]) -> nn.Module:
    """Instantiate a registered model from its hyper-parameters (as stored in a checkpoint)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    cls, config_cls = MODELS[name]
    known = set(config_cls.__dataclass_fields__)
    unknown = set(hyper) - known
    if unknown:
        raise ValueError(f"unknown hyper-parameters for {name}: {sorted(unknown)}")
    try:
        config = config_cls(**hyper)
    except TypeError as error:
        raise ValueError(f"bad hyper-parameters for {name}: {error}") from None
    return cls(config)


def model_hyper(model: nn.Module) -> dict[str, Any]:
    """The hyper-parameters that rebuild `model` with build_model."""
    return asdict(model.config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
