"""Multi-person pose student: MoveNet/CenterNet-style single pass with plain Conv-BN-ReLU blocks.

Why this design: one forward pass finds every person (no detector + per-person crop), so its cost does not grow with
the number of people; all outputs are dense maps that quantize well. Dense 3x3 convs rather than depthwise: measured
here, they train ~60x faster on CPU in PyTorch and run well in int8 on every target. Decoding lives in the runtime
(animetool_runtime.pose.multipose).
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import cbr
from .registry import register_model
from .coco import COCO_KEYPOINTS, COCO_SKELETON
from .standins import IMAGENET

OUTPUTS = ("centers", "heatmaps", "regression", "offsets")
STRIDE = 4
# Trained on 192 px crops zoomed in 0.8-2.2x, so people look bigger in training than in a 192 px letterbox of a whole
# frame; run at 224 they match (FixRes, Touvron et al. 2019). Measured on the held-out footage: benchmarks/pose_eval.py.
SIZE = 224


class Head(nn.Module):
    """3x3 Conv-BN-ReLU then a 1x1 to the output channels; heatmap heads end in a sigmoid."""

    def __init__(self, cin: int, cout: int, sigmoid: bool):
        super().__init__()
        self.body = cbr(cin, cin)
        self.out = nn.Conv2d(cin, cout, 1)
        nn.init.constant_(self.out.bias, -4.0 if sigmoid else 0.0)  # heatmaps start near 0 (CenterNet's prior)
        self.sigmoid = sigmoid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.out(self.body(x))
        return torch.sigmoid(y) if self.sigmoid else y


class MultiPoseNet(nn.Module):
    """Image -> person-centre heatmap, 17 keypoint heatmaps, 34 centre->keypoint vectors, 34 keypoint sub-cell offsets."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128, 192), fpn: int = 48, keypoints: int = 17):
        super().__init__()
        c1, c4, c8, c16, c32 = widths
        self.s4 = nn.Sequential(cbr(3, c1, 3, 2), cbr(c1, c4, 3, 2), cbr(c4, c4))
        self.s8 = nn.Sequential(cbr(c4, c8, 3, 2), cbr(c8, c8))
        self.s16 = nn.Sequential(cbr(c8, c16, 3, 2), cbr(c16, c16), cbr(c16, c16))
        self.s32 = nn.Sequential(cbr(c16, c32, 3, 2), cbr(c32, c32))
        self.lateral = nn.ModuleList([cbr(c, fpn, 1) for c in (c4, c8, c16, c32)])
        self.smooth = nn.ModuleList([cbr(fpn, fpn) for _ in range(3)])
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.heads = nn.ModuleList([Head(fpn, 1, True), Head(fpn, keypoints, True), Head(fpn, 2 * keypoints, False),
                                    Head(fpn, 2 * keypoints, False)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        f4 = self.s4(x)
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        p = self.lateral[3](f32)
        for lateral, smooth, f in zip(self.lateral[2::-1], self.smooth, (f16, f8, f4)):
            p = smooth(lateral(f) + self.up(p))
        return tuple(head(p) for head in self.heads)


@register_model("pose-student-s", task="pose", input_shape=(1, 3, SIZE, SIZE), output_names=OUTPUTS,
                preprocess={"kind": "image", "size": [SIZE, SIZE], "resize": "letterbox", "pad_value": 0, "color": "RGB",
                            "range": [0, 1], **IMAGENET},
                postprocess={"decoder": "multipose", "stride": STRIDE, "keypoints": COCO_KEYPOINTS,
                             "skeleton": COCO_SKELETON, "center_threshold": 0.3,
                             "max_people": 6},
                weights="pose-student-s.v1.safetensors", default=True)
def pose_student_s() -> nn.Module:
    return MultiPoseNet()
