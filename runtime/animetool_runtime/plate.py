"""The scene without its people, for `--background original`: where each person is, and what was behind them.

A person's mask is their pose drawn thick (every seen limb a soft capsule, the torso filled, a disc for head and
hair) on a grid of a quarter of the frame's resolution. Behind it goes the clean plate: the colour each pixel showed
while it was well away from everybody (the mask grown by MARGIN cells) and still for STILL frames, which a still camera
learns as people move on; where the plate never saw the background, the blurred frame (the "blur" background) fills
in. A camera that moves empties the plate. Plain numpy; mirrored in the web app (lib/plate.js).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .character import SKELETON
from .figure import VISIBLE, body_height, capsule, ellipse, polygon
from .image import resize_bilinear, shrink

SCALE = 4  # mask grid: a quarter of the frame's resolution
LIMB, END, HEAD = 0.65, 0.75, 1.0  # radius of a limb's capsule, a hand's or foot's disc, and the head's, in eighths of
# the body's height (the head's ellipse is 1.5 times as tall)
CLEAR = 0.02  # mask below this: background, which the plate may learn
MOVED = 24.0  # mean |frame - plate| (0-255) over background the plate has seen: above it, the camera moved
BLUR = 24  # the fallback fill: the frame at 1/BLUR of its size, scaled back up
MARGIN = 6  # grid cells (24 px) around a mask where the plate does not learn: limbs the pose lags or misses
STILL, STEADY = 3, 10.0  # a cell is learnt once its mean |change| (0-255) stayed under STEADY for STILL frames


def grow(mask: np.ndarray, cells: int) -> np.ndarray:
    """Max filter of a grid over (2 cells + 1) squares, separable."""
    out = mask.copy()
    for axis in (0, 1):
        src = out.copy()
        for k in range(1, cells + 1):
            lo, hi = [slice(None)] * 2, [slice(None)] * 2
            lo[axis], hi[axis] = slice(k, None), slice(None, -k)
            np.maximum(out[tuple(lo)], src[tuple(hi)], out=out[tuple(lo)])
            np.maximum(out[tuple(hi)], src[tuple(lo)], out=out[tuple(hi)])
    return out


def person_mask(people, height: int, width: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """(mask, boxes): the people (each (17, 3) in frame pixels) as a (ceil(H / SCALE), ceil(W / SCALE)) float32 mask
    in [0, 1], and each one's box (y0, y1, x0, x1) in frame pixels, where anything but a copy has to happen."""
    grid = (-(-width // SCALE), -(-height // SCALE))
    mask, boxes = np.zeros(grid[::-1], np.float32), []
    for person in people:
        kps = np.asarray(person, np.float32).copy()
        kps[:, :2] = (kps[:, :2] + 0.5) / SCALE - 0.5
        ok = kps[:, 2] >= VISIBLE
        if ok.sum() < 2:
            continue
        u = max(body_height(kps), float(np.ptp(kps[ok, :2], 0).max())) / 8
        parts = [capsule(grid, kps[a, :2].astype(np.float64), kps[b, :2].astype(np.float64), LIMB * u, LIMB * u)
                 for a, b in SKELETON if ok[a] and ok[b]]
        if ok[[5, 6, 12, 11]].all():
            parts.append(polygon(grid, kps[[5, 6, 12, 11], :2]))
        for a, b in ((7, 9), (8, 10), (13, 15), (14, 16)):  # hands and feet reach past wrists and ankles
            if ok[a] and ok[b]:
                end = kps[b, :2].astype(np.float64)
                parts.append(ellipse(grid, end + 0.3 * (end - kps[a, :2]), END * u, END * u))
        face = [i for i in range(5) if ok[i]]
        if face:  # head and hair, which may hang to the shoulders
            parts.append(ellipse(grid, kps[face, :2].mean(0).astype(np.float64) + (0, 0.2 * u), HEAD * u, 1.5 * HEAD * u))
        wins = [p[0] for p in parts if p is not None]
        for win, m in (p for p in parts if p is not None):
            np.maximum(mask[win], m, out=mask[win])
        if wins:
            boxes.append((min(y.start for y, _ in wins) * SCALE, min(height, max(y.stop for y, _ in wins) * SCALE),
                          min(x.start for _, x in wins) * SCALE, min(width, max(x.stop for _, x in wins) * SCALE)))
    return mask, boxes


def upsample(grid: np.ndarray, height: int, width: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Pixels y0:y1, x0:x1 of a (h, w, C) grid stretched over a height x width frame, bilinear (half-pixel centres),
    rows then columns: a person's box of a million-pixel frame costs two gathers."""
    h, w = grid.shape[:2]
    ys = np.clip((np.arange(y0, y1) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(x0, x1) + 0.5) * w / width - 0.5, 0, w - 1)
    ya, xa = ys.astype(np.int64), xs.astype(np.int64)
    wy, wx = (ys - ya).astype(np.float32)[:, None, None], (xs - xa).astype(np.float32)[None, :, None]
    rows = grid[ya] * (1 - wy) + grid[np.minimum(ya + 1, h - 1)] * wy
    return rows[:, xa] * (1 - wx) + rows[:, np.minimum(xa + 1, w - 1)] * wx


def _copy_cells(dst: np.ndarray, src: np.ndarray, cells: np.ndarray) -> None:
    """dst = src in the SCALE x SCALE pixel blocks of the grid cells set in cells (no full-size mask is made)."""
    h, w = dst.shape[:2]
    hb, wb = h // SCALE, w // SCALE
    blocks = (hb, SCALE, wb, SCALE, dst.shape[2])
    np.copyto(dst[:hb * SCALE, :wb * SCALE].reshape(blocks), src[:hb * SCALE, :wb * SCALE].reshape(blocks),
              where=cells[:hb, None, :wb, None, None])
    for rows, cols in ((slice(hb * SCALE, h), slice(0, w)), (slice(0, hb * SCALE), slice(wb * SCALE, w))):
        where = cells[np.arange(h)[rows] // SCALE][:, np.arange(w)[cols] // SCALE, None]
        np.copyto(dst[rows, cols], src[rows, cols], where=where)


class Plate:
    """The background learnt over a video: call on consecutive frames; returns each frame with its people removed."""

    def __init__(self):
        self.image: Optional[np.ndarray] = None  # uint8 HxWx3: the last background colour of each pixel
        self.seen: Optional[np.ndarray] = None  # mask grid: whether the plate holds background there
        self.grid: Optional[np.ndarray] = None  # the last frame's grid pixels, and how long each has kept still
        self.still: Optional[np.ndarray] = None

    def __call__(self, rgb: np.ndarray, people) -> np.ndarray:
        """rgb with the people removed, written into rgb itself (returned)."""
        h, w = rgb.shape[:2]
        mask, boxes = person_mask(people, h, w)
        clear, grid = mask < CLEAR, rgb[::SCALE, ::SCALE].astype(np.int16)
        if self.image is None or self.image.shape != rgb.shape:
            self.image, self.seen, self.grid = rgb.copy(), np.zeros_like(clear), grid
            self.still = np.zeros(clear.shape, np.int64)
        else:
            both = clear & self.seen
            if both.any() and float(np.abs(grid - self.image[::SCALE, ::SCALE]).mean(-1)[both].mean()) > MOVED:
                self.seen[:] = False
        self.still = np.where(np.abs(grid - self.grid).mean(-1) < STEADY, self.still + 1, 0)
        self.grid = grid
        learn = (grow(mask, MARGIN) < CLEAR) & (self.still >= STILL)
        blurred = None
        filled = []
        for y0, y1, x0, x1 in boxes:  # from the plate as it was: overlapping boxes give the same pixels
            m = upsample(mask[..., None], mask.shape[0] * SCALE, mask.shape[1] * SCALE, y0, y1, x0, x1)
            seen = self.seen[np.arange(y0, y1) // SCALE][:, np.arange(x0, x1) // SCALE, None]
            fill = self.image[y0:y1, x0:x1]
            if not seen.all():
                if blurred is None:  # the grid's pixels (a subsample of the frame) averaged down to 1/BLUR
                    coarse = -(-h // BLUR), -(-w // BLUR)
                    blurred = resize_bilinear(shrink(rgb[::SCALE, ::SCALE], *coarse), *coarse)
                fill = np.where(seen, fill, upsample(blurred, h, w, y0, y1, x0, x1))
            under = rgb[y0:y1, x0:x1].astype(np.float32)
            filled.append(np.clip(under + m * (fill - under) + 0.5, 0, 255).astype(np.uint8))
        _copy_cells(self.image, rgb, learn)  # the plate learns what is still and away from everybody
        for (y0, y1, x0, x1), out in zip(boxes, filled):
            rgb[y0:y1, x0:x1] = out
        self.seen |= learn
        return rgb
