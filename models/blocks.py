"""The small blocks every model here is built from: int8-friendly by construction (DESIGN.md)."""
from __future__ import annotations

import torch
from torch import nn


def cbr(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv + BatchNorm + ReLU: folds to one conv with a fused ReLU on every target."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Up(nn.Module):
    """Nearest 2x resize + cbr, instead of ConvTranspose (it survives int8 on every target)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.conv = cbr(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))
