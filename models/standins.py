"""The tiny image-to-image test model of the export engine (it stood in for the generator until that was trained),
and the ImageNet normalisation the pose models share (the COCO constants: coco.py).

Their weights are a seeded initialisation whose BatchNorm statistics were measured on real photos
(`python -m animetool.train.standins`), so activations have realistic ranges for export and int8 parity;
they are not trained and predict nothing meaningful.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import Up, cbr
from .registry import register_model

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


class TinyUNet(nn.Module):
    """Image -> image encoder-decoder with skips (the stand-in of the pose-conditioned generator)."""

    def __init__(self, width: int = 16, cin: int = 3, cout: int = 3):
        super().__init__()
        w = width
        self.e1, self.e2, self.e3 = cbr(cin, w), cbr(w, 2 * w, stride=2), cbr(2 * w, 4 * w, stride=2)
        self.d2, self.d1 = Up(4 * w, 2 * w), Up(2 * w, w)
        self.out = nn.Conv2d(w, cout, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.e1(x)
        e2 = self.e2(e1)
        d2 = self.d2(self.e3(e2)) + e2
        d1 = self.d1(d2) + e1
        return torch.sigmoid(self.out(d1))


@register_model("generator-standin", task="generator", input_shape=(1, 3, 128, 128), output_names=("image",),
                preprocess={"kind": "image", "size": [128, 128], "color": "RGB", "range": [0, 1],
                            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
                postprocess={"decoder": "image", "range": [0, 1], "color": "RGB"},
                weights="generator-standin.seed0.safetensors")
def generator_standin() -> nn.Module:
    return TinyUNet()

