"""The D3PM adapter: the digits UNet read as a model of p(x0 | x_t) over K grey levels.

The network reads x_t one-hot (S input channels: the K grey levels, plus [MASK] for absorbing
corruption) and the step index, and outputs logits of p(x0 | x_t) over the K levels at every
pixel (Austin et al. 2021, sec. 3.3, the x0-parameterisation).
"""

from __future__ import annotations

import torch

PREDICTION = "x0-logits"


D3PM_DATASETS = ("digits",)


DIGIT_LEVELS = 17


def model_logits(model: torch.nn.Module, xt: torch.Tensor, k: torch.Tensor, states: int) -> torch.Tensor:
    """Logits of p(x0 | x_t) for integer images x_t (B, 1, H, W): (B, 1, H, W, K)."""
    inp = torch.nn.functional.one_hot(xt[:, 0], states).permute(0, 3, 1, 2).float()
    return model(inp, k).permute(0, 2, 3, 1).unsqueeze(1)
