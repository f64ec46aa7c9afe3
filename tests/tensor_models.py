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


class DropPath(nn.Module):
    """Stochastic depth as timm writes it: a random per-sample mask while training, the identity in eval mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        return x * torch.empty(x.shape[0], 1, 1, 1).bernoulli_(0.9) / 0.9


class Residual(nn.Module):
    """An image model with stochastic depth on its residual branch (EfficientNet, ConvNeXt, most timm models)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.drop = DropPath()
        self.head = nn.Conv2d(16, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        return self.head(y + self.drop(self.branch(y)))


def residual() -> nn.Module:
    torch.manual_seed(0)
    return Residual()


class TwoLevelHeads(nn.Module):
    """A detector's network as users export it without its decoding (SSDlite, RetinaNet, YOLO): per-level box and class
    convs, flattened and concatenated per anchor. The coarse level's outputs span a tenth of the fine level's."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.boxes = nn.ModuleList([nn.Conv2d(16, 4, 3, 1, 1), nn.Conv2d(16, 4, 3, 1, 1)])
        self.scores = nn.ModuleList([nn.Conv2d(16, 3, 3, 1, 1), nn.Conv2d(16, 3, 3, 1, 1)])
        with torch.no_grad():
            for head in (self.boxes[1], self.scores[1]):
                head.weight.mul_(0.1)
                head.bias.mul_(0.1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        levels = [self.stem(x)]
        levels.append(self.down(levels[0]))
        flat = lambda t, k: t.permute(0, 2, 3, 1).reshape(t.shape[0], -1, k)  # noqa: E731
        return (torch.cat([flat(h(f), 4) for h, f in zip(self.boxes, levels)], 1),
                torch.cat([flat(h(f), 3) for h, f in zip(self.scores, levels)], 1))


def two_level_heads() -> nn.Module:
    torch.manual_seed(0)
    return TwoLevelHeads()
