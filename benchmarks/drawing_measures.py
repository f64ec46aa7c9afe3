"""What a user sees of a generated character, against the renderer's drawing of the same pose and appearance.

Whole drawing and head region (PSNR, SSIM), the colour of each part (CIE76 between the median colours of the region
the renderer painted that part in), and the silhouette (IoU of alpha > 0.5). The generator issue's goals are stated in
these measures; benchmarks/generator_eval.py reports them and draws the contact sheet.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from skimage.metrics import structural_similarity

from animetool.data.avatar import shade
from animetool_runtime.character import VISIBLE, Appearance, srgb_to_lab

PARTS = ("hair", "skin", "bottom", "top")
HEAD_SIDE = 0.3  # of the canvas: the square around the head keypoints (nose, eyes, ears)
TONE_DE = 6.0  # a pixel belongs to a part where it is this close (CIE76) to one of the part's cel tones
MIN_PIXELS = 12


def composite(x: np.ndarray) -> np.ndarray:
    """(4, H, W) RGBA in [0, 1] -> H x W x 3 over white, what a viewer sees."""
    a = np.clip(x[3:4], 0, 1)
    return (np.clip(x[:3], 0, 1) * a + (1 - a)).transpose(1, 2, 0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a, b, channel_axis=2, data_range=1.0, win_size=min(7, *a.shape[:2]) | 1))


def head_box(canvas: np.ndarray, size: int) -> tuple[slice, slice] | None:
    """The square of side HEAD_SIDE x size centred on the visible head keypoints, inside the canvas."""
    head = canvas[:5][canvas[:5, 2] >= VISIBLE]
    if not len(head):
        return None
    half = HEAD_SIDE * size / 2
    cx, cy = np.clip(head[:, :2].mean(0), half, size - half)
    return slice(int(round(cy - half)), int(round(cy + half))), slice(int(round(cx - half)), int(round(cx + half)))


def part_masks(target: np.ndarray, look: Appearance) -> dict[str, np.ndarray]:
    """Where the renderer painted each part: opaque pixels nearest (and close) to one of that part's cel tones."""
    lab = srgb_to_lab(composite(target))
    opaque = target[3] > 0.5
    names, tones = [], []
    for part in PARTS:
        base = getattr(look, part)
        for tone in (base, shade(base), shade(base, 0.82), shade(base, 0.85)):
            names.append(part)
            tones.append(srgb_to_lab(np.asarray(tone, np.float64)))
    dist = np.linalg.norm(lab[:, :, None, :] - np.asarray(tones)[None, None], axis=-1)
    nearest = dist.argmin(-1)
    close = dist.min(-1) < TONE_DE
    return {p: opaque & close & np.isin(nearest, [i for i, n in enumerate(names) if n == p]) for p in PARTS}


def measure(out: np.ndarray, target: np.ndarray, canvas: np.ndarray, look: Appearance) -> dict[str, float]:
    """Every measure for one drawing (RGBA, C x H x W in [0, 1]) against the renderer's."""
    size = target.shape[-1]
    a, b = composite(out), composite(target)
    m = {"psnr": psnr(a, b), "ssim": ssim(a, b)}
    box = head_box(canvas, size)
    if box is not None:
        m["head_psnr"], m["head_ssim"] = psnr(a[box], b[box]), ssim(a[box], b[box])
    sa, sb = out[3] > 0.5, target[3] > 0.5
    m["iou"] = float((sa & sb).sum() / max(int((sa | sb).sum()), 1))
    la, lb = srgb_to_lab(a), srgb_to_lab(b)
    for part, mask in part_masks(target, look).items():
        if mask.sum() >= MIN_PIXELS:
            m[f"de_{part}"] = float(np.linalg.norm(np.median(la[mask], 0) - np.median(lb[mask], 0)))
    return m


def mean(measures: list[dict[str, float]]) -> dict[str, float]:
    """Per-measure means over the drawings that have it (a drawing without a visible head has no head figures)."""
    keys = dict.fromkeys(k for m in measures for k in m)
    return {k: float(np.mean([m[k] for m in measures if k in m])) for k in keys}


def contact_sheet(columns: dict[str, list[np.ndarray]], path, cell: int = 160) -> None:
    """One row a sample, one column a drawer (renderer first), each drawing over white, labelled on top."""
    names = list(columns)
    rows = len(columns[names[0]])
    sheet = Image.new("RGB", (cell * len(names), 18 + cell * rows), "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(names):
        draw.text((j * cell + 4, 3), name, fill=(0, 0, 0))
        for i, img in enumerate(columns[name]):
            tile = Image.fromarray((composite(img) * 255).round().astype(np.uint8)).resize((cell, cell), Image.LANCZOS)
            sheet.paste(tile, (j * cell, 18 + i * cell))
    sheet.save(path)
