"""Small models for test_lint: one with every hazard the lint knows (each in a module of its own, so the finding's
module path is checkable), one without any, and one torch.export cannot capture."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Hazards(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.norm = nn.GroupNorm(4, 16)
        self.wide = nn.Conv2d(16, 16, 3, padding=1)
        self.act = nn.SiLU()
        self.logits = nn.Conv2d(16, 16, 1)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.up = nn.ConvTranspose2d(16, 16, 2, 2)
        with torch.no_grad():
            self.wide.weight.mul_(40.0)
            self.logits.weight.mul_(200.0)

    def forward(self, x: torch.Tensor):
        y = self.norm(self.stem(x))
        y = self.act(self.wide(y))
        t = y.flatten(2).transpose(1, 2)
        t, _ = self.attn(t, t, t)
        z = torch.cat([x, self.wide(y)], 1)
        return torch.sigmoid(self.logits(y)), self.up(y), t, z


class Clean(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Saturating(nn.Module):
    """An image-to-image head whose last conv spans far beyond where its sigmoid saturates, like sharp drawings."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.logits = nn.Conv2d(16, 4, 3, padding=1)
        with torch.no_grad():
            self.logits.weight.mul_(300.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(self.body(x)))


class Unbalanced(nn.Module):
    """One channel of the middle layer a thousand times louder than the rest (undone by the next layer): nothing the
    lint's rules see, but one 8-bit scale for that tensor rounds the quiet channels away."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
        self.mid = nn.Conv2d(16, 16, 1)
        self.head = nn.Conv2d(16, 8, 1)
        with torch.no_grad():
            self.mid.weight[0] *= 1000.0
            self.mid.bias[0] *= 1000.0
            self.head.weight[:, 0] /= 1000.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mid(self.body(x)))


class UnbalancedBN(nn.Module):
    """Unbalanced with the loud channel made by a BatchNorm after the conv: OpenVINO folds the pair into one op named
    after neither, which --keep-float must still reach."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
        self.mid = nn.Sequential(nn.Conv2d(16, 16, 1), nn.BatchNorm2d(16))
        self.head = nn.Conv2d(16, 8, 1)
        with torch.no_grad():
            self.mid[1].weight[0] = 1000.0
            self.mid[1].bias[0] = 1000.0
            self.head.weight[:, 0] /= 1000.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mid(self.body(x)))


class Shuffle(nn.Module):
    """ShuffleNet's channel shuffle: shapes read with x.size() then view (what broke Core ML under NumPy 2.4)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        b, c, h, w = y.size()
        return y.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)


class Branchy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if float(x.mean()) > 0.5 else x  # a Python branch on a value: no static graph


def hazards() -> nn.Module:
    return Hazards()


def clean() -> nn.Module:
    return Clean()


def saturating() -> nn.Module:
    torch.manual_seed(0)
    return Saturating()


def unbalanced() -> nn.Module:
    torch.manual_seed(0)
    return Unbalanced()


def unbalanced_bn() -> nn.Module:
    torch.manual_seed(0)
    return UnbalancedBN().eval()


def shuffle() -> nn.Module:
    torch.manual_seed(0)
    return Shuffle()


def branchy() -> nn.Module:
    return Branchy()


class LinearAttention(nn.Module):
    """EfficientViT's ReLU linear attention, run with autocast off as timm runs it (torch.export makes that region
    a higher-order op with a body of its own)."""

    def __init__(self, c: int = 16):
        super().__init__()
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).flatten(2).chunk(3, 1)
        with torch.autocast(device_type="cpu", enabled=False):
            q, k = torch.relu(q), torch.relu(k)
            out = (v @ k.transpose(1, 2)) @ q / (k.sum(2, keepdim=True).transpose(1, 2) @ q + 1e-5)
        return self.proj(out.reshape(x.shape))


class WithLinearAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.attn = LinearAttention()
        self.head = nn.Conv2d(16, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        return self.head(y + self.attn(y))


def linear_attention() -> nn.Module:
    torch.manual_seed(0)
    return WithLinearAttention()
