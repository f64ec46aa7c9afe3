"""Pose-conditioned anime generator: a pix2pix-style U-Net teacher, its compressed student, and a PatchGAN critic.

Both generators share one int8-friendly topology (Conv-BN-ReLU, nearest resize + conv instead of ConvTranspose, no
InstanceNorm) and differ only in width, so the student's features map 1:1 onto the teacher's for distillation
(GAN Compression's recipe). Input: the conditioning maps of animetool_runtime.character; output: RGB + alpha in [0, 1].
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import Up, cbr
from .registry import register_model


LOGIT = 8.0


class UNetGenerator(nn.Module):
    """Encoder of stride-2 blocks, decoder of resize+conv blocks with additive skips; forward_features for distillation."""

    def __init__(self, cin: int, width: int = 64, depth: int = 4, cout: int = 4, colour_skip: tuple[int, int] | None = None,
                 half: bool = False, detail: tuple[int, int, int] | None = None, widths: tuple[int, ...] | None = None):
        super().__init__()
        self.colour_skip = colour_skip  # input channels [a, b) also feed the output: colours need not cross the net
        # widths: each level's channels, finest first (depth + 1 of them); by default doubling from width up to 4x
        chans = list(widths) if widths else [min(width * 2 ** i, width * 4) for i in range(depth + 1)]
        depth = len(chans) - 1
        # half: the network works at half the drawing's resolution (ESPCN's sub-pixel recipe): a 2x2 stride-2 first
        # conv (space-to-depth and a 1x1 conv in one op; a padded 3x3 stride-2 conv on the input makes LiteRT's int8
        # converter insert a pad whose scales clash), and an output conv that draws each 2x2 block's pixels (4x the
        # channels, then depth-to-space); the colour skip paints at full size.
        self.inp = (nn.Sequential(nn.Conv2d(cin, chans[0], 2, 2, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(inplace=True))
                    if half else cbr(cin, chans[0]))
        self.down = nn.ModuleList([nn.Sequential(cbr(chans[i], chans[i + 1], stride=2), cbr(chans[i + 1], chans[i + 1]))
                                   for i in range(depth)])
        self.up = nn.ModuleList([Up(chans[i + 1], chans[i]) for i in reversed(range(depth))])
        self.refine = nn.ModuleList([cbr(chans[i], chans[i]) for i in reversed(range(depth))])
        self.out = nn.Conv2d(chans[0], cout * 4 if half else cout, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(2) if half else nn.Identity()
        if colour_skip:  # a conv of its own added to the output's, not a concat: int8 concat shares one scale (the input's)
            self.colour_out = nn.Conv2d(colour_skip[1] - colour_skip[0], cout, 3, 1, 1, bias=False)
        # detail (a, b, hidden): a small non-linear branch at the drawing's full resolution over input channels [a, b)
        # (the flat layout's colours, the style flags, the eyes and mouth maps), added to the output's logits. The U-Net
        # of a half-resolution net sees the face through a 2x2 stride-2 conv; this branch draws what is finer than that:
        # the eyes' white, iris and pupil (the eyes map's levels), the mouth, the lines where two parts meet.
        # Depthwise 3x3 (each map's local differences), 1x1 + BN + ReLU (a threshold per level and part), 3x3 to RGBA.
        self.detail = detail
        if detail:
            a, b, hidden = detail
            self.detail_in = nn.Sequential(nn.Conv2d(b - a, b - a, 3, 1, 1, groups=b - a, bias=False),
                                           nn.Conv2d(b - a, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
            self.detail_out = nn.Conv2d(hidden, cout, 3, 1, 1, bias=False)
        # fine-tuned from weights without a skip, its output layer starts at zero: it adds nothing until it has learnt to
        self.zero_start = ("colour_out.weight", "detail_out.weight")
        self.channels = list(reversed(chans[:-1]))  # decoder feature widths, deepest first

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = [self.inp(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        y, feats = skips.pop(), []
        for up, refine in zip(self.up, self.refine):
            y = refine(up(y) + skips.pop())
            feats.append(y)
        # sigmoid(+-8) is within 3e-4 of 0 and 1: the clamps change no drawing, but they bound the tensors int8 must
        # cover. The output conv itself reaches +-90 on sharp drawings (one 8-bit scale over that shifted colours by
        # dE 6-28), so int8 export keeps it in float: `animetool lint` flags it and --keep-float auto follows
        logits = self.shuffle(self.out(y).clamp(-LOGIT, LOGIT))  # clamp first: lint and --keep-float see `out`
        if self.colour_skip:
            logits = logits + self.colour_out(x[:, self.colour_skip[0]:self.colour_skip[1]])
        if self.detail:
            logits = logits + self.detail_out(self.detail_in(x[:, self.detail[0]:self.detail[1]]))
        return torch.sigmoid(logits.clamp(-LOGIT, LOGIT)), feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


class PatchDiscriminator(nn.Module):
    """70x70-style PatchGAN on (conditioning, RGBA); returns its intermediate features too, for feature matching."""

    def __init__(self, cin: int, width: int = 64):
        super().__init__()
        w = width
        self.blocks = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cin, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)),
            nn.Sequential(nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, inplace=True)),
            nn.Sequential(nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, inplace=True)),
            nn.Sequential(nn.Conv2d(4 * w, 4 * w, 4, 1, 1), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, inplace=True)),
        ])
        self.out = nn.Conv2d(4 * w, 1, 4, 1, 1)

    def forward(self, cond: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, feats = torch.cat([cond, image], 1), []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return self.out(x), feats


def macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass (convolutions only: they are >99% of these nets)."""
    total = 0

    def hook(m: nn.Conv2d, _inp, out):
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        module.eval()(torch.zeros(shape))
    for h in handles:
        h.remove()
    return total


# What the generators learnt to read, described as the manifest's conditioning block that export copies into a bundle:
# named channel groups in order, and the version of what the maps mean. The runtime paints these groups
# (animetool_runtime.character.CONDITIONING) at the offsets a bundle's block gives; models/ import torch only, so the
# description is written here, as data, and a test checks it against the runtime's.
LAYOUT = {"layout": 4, "groups": [{"name": n, "channels": c} for n, c in (
    ("keypoints", 17), ("limbs", 19), ("colours", 15), ("hair_style", 5), ("long_trousers", 1), ("outline", 1), ("face", 2))]}


def _span(name: str) -> tuple[int, int]:
    start = 0
    for g in LAYOUT["groups"]:
        if g["name"] == name:
            return start, start + g["channels"]
        start += g["channels"]
    raise KeyError(name)


CONDITIONING_CHANNELS = sum(g["channels"] for g in LAYOUT["groups"])
COLOUR_CHANNELS = _span("colours")  # the painted skin, hair, top, bottom and shoe colours: the students' colour skip
DETAIL = (COLOUR_CHANNELS[0], CONDITIONING_CHANNELS, 12)  # colours, style flags, eyes and mouth maps; 12 features
SIZE = 128


def _pre(size: int, layout: int = LAYOUT["layout"]) -> dict:
    return {"kind": "conditioning", "size": [size, size], "fill": 0.8, "channels": CONDITIONING_CHANNELS,
            "conditioning": {**LAYOUT, "layout": layout}, "builder": "animetool_runtime.character.conditioning"}


_PRE = _pre(SIZE)
_POST = {"decoder": "rgba", "range": [0, 1], "channels": ["r", "g", "b", "alpha"]}


# The teacher's weights (v3, stale: see its card) learnt layout 2, whose head was an ellipse without the fringe; its
# bundles say so, and the runtime refuses to feed them layout 3. Retrain it before use.
@register_model("generator-teacher", task="generator", input_shape=(1, CONDITIONING_CHANNELS, SIZE, SIZE),
                output_names=("rgba",), preprocess=_pre(SIZE, layout=2), postprocess=_POST, weights="generator-teacher.v3.safetensors")
def generator_teacher() -> nn.Module:
    return UNetGenerator(CONDITIONING_CHANNELS, width=32)


@register_model("generator-student", task="generator", input_shape=(1, CONDITIONING_CHANNELS, SIZE, SIZE),
                output_names=("rgba",), preprocess=_PRE, postprocess=_POST, weights="generator-student.v6.safetensors", default=True)
def generator_student() -> nn.Module:
    """The teacher's topology at a quarter of the width, plus a colour skip: at width 8 the painted colours did not
    survive the trip through the U-Net (v1 and v2 drew everyone grey), so a 3x3 conv of them joins the output."""
    return UNetGenerator(CONDITIONING_CHANNELS, width=8, colour_skip=COLOUR_CHANNELS)


# generator-student-256's channels per level, finest first (v3-v6: 8, 16, 32, 32, 32). v8 widened the coarse levels,
# which run at 1/8 and 1/16 of the drawing: 3x the parameters and 1.3x the MACs, where the time is not (the full- and
# half-resolution layers take most of it).
WIDE = (8, 16, 48, 64, 64)


@register_model("generator-student-256", task="generator", input_shape=(1, CONDITIONING_CHANNELS, 2 * SIZE, 2 * SIZE),
                output_names=("rgba",), preprocess=_pre(2 * SIZE), postprocess=_POST,
                weights="generator-student-256.v8.safetensors", default=True)
def generator_student_256() -> nn.Module:
    """generator-student drawing at 256x256 from the 256 px conditioning, its U-Net working at 128 (half=True: a
    strided first conv, a depth-to-space output) with wider coarse levels (WIDE), so it costs little more than
    generator-student; the colour skip paints the part colours at 256, and the detail branch draws the eyes, mouth
    and part boundaries at 256."""
    return UNetGenerator(CONDITIONING_CHANNELS, colour_skip=COLOUR_CHANNELS, half=True, detail=DETAIL, widths=WIDE)


def discriminator() -> nn.Module:
    return PatchDiscriminator(CONDITIONING_CHANNELS + 4, width=32)
