"""The digits classifier network: the evaluator of digit samples."""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.SiLU()]


class DigitsCNN(nn.Module):
    """(B, 1, 8, 8) in [-1, 1] -> (B, 10) logits: four batch-normalised 3x3 convolutions (8x8, then 4x4),
    dropout, and `features`, the 128-d penultimate layer that the Fréchet distance is measured in."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv(1, width), *_conv(width, width), *_conv(width, 2 * width, stride=2), *_conv(2 * width, 2 * width),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * width * 16, 128), nn.SiLU(),
        )  # fmt: skip
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
