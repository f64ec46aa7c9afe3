"""A user's model whose input is not an image: a sequence (N, T, C), as keypoint tracks or audio features are."""
from __future__ import annotations

import torch
from torch import nn


class Sequence(nn.Module):
    """Conv1d over time, mean over time, a linear head: (N, 20, 12) -> (N, 5)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(12, 24, 3, padding=1)
        self.head = nn.Linear(24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x.transpose(1, 2))).mean(-1))


def sequence() -> nn.Module:
    torch.manual_seed(0)
    return Sequence()
