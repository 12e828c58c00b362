"""Denoising networks: a time-conditioned MLP for points and a small UNet for images.

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


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer-style embedding of timesteps (B,) -> (B, dim): sin and cos of t at
    geometrically spaced frequencies from 1 to 1/max_period (Vaswani et al. 2017, sec. 3.5)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


def label_embedding(num_classes: int, width: int) -> nn.Embedding | None:
    """Class embeddings plus the null class (the last index) for classifier-free guidance
    (Ho & Salimans 2022); started at zero so a new conditional model begins unconditional."""
    if num_classes <= 0:
        return None
    emb = nn.Embedding(num_classes + 1, width)
    nn.init.zeros_(emb.weight)
    return emb


def add_label(emb: nn.Embedding | None, temb: torch.Tensor, y: torch.Tensor | None, batch: int) -> torch.Tensor:
    """The time embedding plus the label's (y None: the null class). An unconditional model refuses labels."""
    if emb is None:
        if y is not None:
            raise ValueError("this model is unconditional: it takes no class label")
        return temb
    null = emb.num_embeddings - 1
    y = torch.full((batch,), null, device=temb.device) if y is None else torch.as_tensor(y, device=temb.device)
    return temb + emb(y.expand(batch) if y.dim() == 0 else y)


@dataclass(frozen=True)
class MLPConfig:
    """Hyper-parameters of TimeMLP."""

    dim: int = 2
    width: int = 128
    depth: int = 3
    time_dim: int = 64
    num_classes: int = 0  # > 0: class-conditional, with one more embedding for the null class (index num_classes)


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
        self.label_emb = label_embedding(config.num_classes, w)
        self.inp = nn.Linear(config.dim, w)
        self.blocks = nn.ModuleList(ResidualBlock(w) for _ in range(config.depth))
        self.out = nn.Sequential(nn.LayerNorm(w), nn.SiLU(), nn.Linear(w, config.dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device)
        shared = t.dim() == 0
        temb = self.time_mlp(sinusoidal_embedding(t.reshape(1) if shared else t, self.config.time_dim))  # (B|1, W)
        temb = add_label(self.label_emb, temb, y, x.shape[0])
        h = self.inp(x)  # (B, W)
        for block in self.blocks:
            h = block(h, temb)
        return self.out(h)


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of UNet: image channels and side, base width, one level per entry
    of `mults` (halving the resolution between levels), residual blocks per level."""

    channels: int = 1
    size: int = 8
    base: int = 32
    mults: tuple[int, ...] = (1, 2, 2)
    blocks: int = 2
    attention: bool = True
    time_dim: int = 128
    groups: int = 8
    out_channels: int = 0  # 0: as many as `channels`; a discrete (D3PM) model outputs K logits a pixel
    num_classes: int = 0  # > 0: class-conditional, with one more embedding for the null class (index num_classes)


class ConvBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time embedding added in between, plus a skip path
    (Ho et al. 2020, appendix B: the Wide-ResNet block of the DDPM UNet)."""

    def __init__(self, cin: int, cout: int, tdim: int, groups: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(min(groups, cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(min(groups, cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(torch.nn.functional.silu(self.norm1(x)))  # (B, cout, H, W)
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(torch.nn.functional.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the H*W positions, residual."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).unbind(1)  # each (B, C, HW)
        out = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return x + self.proj(out.transpose(1, 2).reshape(B, C, H, W))


class UNet(nn.Module):
    """A small DDPM-style UNet for (B, C, H, W) images, H = W = size, 8 to 32 pixels."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = c = config
        if c.size % 2 ** (len(c.mults) - 1):
            raise ValueError(f"image size {c.size} must be divisible by {2 ** (len(c.mults) - 1)}")
        tdim = c.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(tdim, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.label_emb = label_embedding(c.num_classes, tdim)
        self.conv_in = nn.Conv2d(c.channels, c.base, 3, padding=1)
        self.down, skips, ch = nn.ModuleList(), [c.base], c.base
        for level, mult in enumerate(c.mults):
            for _ in range(c.blocks):
                self.down.append(ConvBlock(ch, c.base * mult, tdim, c.groups))
                ch = c.base * mult
                skips.append(ch)
            if level < len(c.mults) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid1 = ConvBlock(ch, ch, tdim, c.groups)
        self.mid_attn = SelfAttention(ch, c.groups) if c.attention else nn.Identity()
        self.mid2 = ConvBlock(ch, ch, tdim, c.groups)
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.mults))):
            for _ in range(c.blocks + 1):
                self.up.append(ConvBlock(ch + skips.pop(), c.base * mult, tdim, c.groups))
                ch = c.base * mult
            if level > 0:
                self.up.append(
                    nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1))
                )
        self.out = nn.Sequential(
            nn.GroupNorm(min(c.groups, ch), ch), nn.SiLU(), nn.Conv2d(ch, c.out_channels or c.channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device)
        temb = self.time_mlp(sinusoidal_embedding(t.reshape(1) if t.dim() == 0 else t, self.config.time_dim))
        temb = add_label(self.label_emb, temb, y, x.shape[0])
        h = self.conv_in(x)
        skips = [h]
        for layer in self.down:
            h = layer(h, temb) if isinstance(layer, ConvBlock) else layer(h)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        for layer in self.up:
            h = layer(torch.cat([h, skips.pop()], dim=1), temb) if isinstance(layer, ConvBlock) else layer(h)
        return self.out(h)


MODELS: dict[str, tuple[type, type]] = {"mlp": (TimeMLP, MLPConfig), "unet": (UNet, UNetConfig)}


def build_model(name: str, hyper: dict[str, Any]) -> nn.Module:
    """Instantiate a registered model from its hyper-parameters (as stored in a checkpoint)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    cls, config_cls = MODELS[name]
    known = set(config_cls.__dataclass_fields__)
    unknown = set(hyper) - known
    if unknown:
        raise ValueError(f"unknown hyper-parameters for {name}: {sorted(unknown)}")
    hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}  # JSON lists
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
