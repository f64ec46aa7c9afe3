"""The scene without its people, for `--background original`: where each person is, and what was behind them.

A person's mask is their pose drawn thick (every seen limb a soft capsule, the torso filled, discs for hands, feet,
head and hair) on a grid of a quarter of the frame's resolution; each cell's value blends its 4x4 pixels (only cells
a person touches are worked on: a few milliseconds at 720p). Behind it goes the clean plate: the colour each pixel showed
while it was well away from everybody (the mask grown by MARGIN cells) and still for STILL frames, which a still camera
learns as people move on; where the plate never saw the background, the frame around the people, blurred, fills in.
A camera that moves empties the plate. Where the plate knows the background, the mask also takes every cell near a
person (in their keypoints' box grown by NEAR) that differs from it by over APART: the parts of a body the pose misses
or misplaces (the far leg of someone walking side-on, loose hair, a bag) are removed too. Plain numpy; mirrored in the
web app (lib/plate.js).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .character import SKELETON
from .figure import VISIBLE, body_height, capsule, ellipse, polygon
from .image import resize_bilinear, shrink, taps

SCALE = 4  # mask grid: a quarter of the frame's resolution
LIMB, END, HEAD = 0.65, 0.75, 1.0  # radius of a limb's capsule, a hand's or foot's disc, and the head's, in eighths of
# the body's height (the head's ellipse is 1.5 times as tall)
CLEAR = 0.02  # mask below this: background, which the plate may learn
MOVED = 24.0  # mean |frame - plate| (0-255) over background the plate has seen: above it, the camera moved
BLUR = 24  # the fallback fill: the frame around the people at 1/BLUR of its size, scaled back up
SOME = 0.05  # a coarse cell of the fill needs this share of background to take its own colour
MARGIN = 6  # grid cells (24 px) around a mask where the plate does not learn: limbs the pose lags or misses
STILL, STEADY = 3, 10.0  # a cell is learnt once its mean |change| (0-255) stayed under STEADY for STILL frames
FAINT = 0.15  # keypoints the mask takes (the confident ones, >= VISIBLE, set its scale): a limb the pose model places
# right but scores low (a raised arm, a leg stretched out) would otherwise show beside the character. Chosen on the
# Sports2D demo (benchmarks/animate_measures.py); a faint keypoint that is wrong costs only some filled background
APART, NEAR = 30.0, 1.0  # mean |frame - plate| (0-255) of a cell the mask takes, in a person's box grown by NEAR
# eighths of their body's height (the box of their keypoints >= FAINT). Chosen on the Sports2D demo like FAINT: a cell
# taken wrongly (a shadow, leaves in the wind) shows the plate, which is the background already


def cells_to_pixels(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """A grid value per pixel (each cell's SCALE x SCALE block), for measuring and tests."""
    return np.repeat(np.repeat(grid, SCALE, 0), SCALE, 1)[:height, :width]


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


def _on_grid(people):
    """Each person with enough evidence for a mask (two confident keypoints): (keypoints in grid cells, faint-or-better,
    their unit: an eighth of their body's height in cells)."""
    for person in people:
        kps = np.asarray(person, np.float32).copy()
        kps[:, :2] = (kps[:, :2] + 0.5) / SCALE - 0.5
        sure, ok = kps[:, 2] >= VISIBLE, kps[:, 2] >= FAINT
        if sure.sum() >= 2:
            yield kps, ok, max(body_height(kps), float(np.ptp(kps[sure, :2], 0).max())) / 8


def near_people(people, height: int, width: int) -> np.ndarray:
    """Grid cells in some person's box (their keypoints >= FAINT) grown by NEAR units each side (bool)."""
    near = np.zeros((-(-height // SCALE), -(-width // SCALE)), bool)
    for kps, ok, u in _on_grid(people):
        pts = kps[ok, :2].astype(np.float64)
        lo = np.maximum(np.floor(pts.min(0) - NEAR * u), 0).astype(int)
        hi = np.ceil(pts.max(0) + NEAR * u).astype(int) + 1
        near[lo[1]:max(lo[1], hi[1]), lo[0]:max(lo[0], hi[0])] = True
    return near


def person_mask(people, height: int, width: int) -> np.ndarray:
    """The people (each (17, 3) in frame pixels) as a (ceil(H / SCALE), ceil(W / SCALE)) float32 mask in [0, 1]."""
    grid = (-(-width // SCALE), -(-height // SCALE))
    mask = np.zeros(grid[::-1], np.float32)
    for kps, ok, u in _on_grid(people):
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
        for win, m in (p for p in parts if p is not None):
            np.maximum(mask[win], m, out=mask[win])
    return mask


def _parts(cells: np.ndarray, h: int, w: int):
    """The cells set in cells, as (rows, cols, sub) index groups: whole SCALE x SCALE blocks (sub None), then the
    partial blocks of a frame whose size is not a multiple of SCALE (sub: that block's (height, width))."""
    hb, wb = h // SCALE, w // SCALE
    iy, ix = np.nonzero(cells[:hb, :wb])
    yield iy, ix, None
    for rows, cols, sub in ((slice(hb, None), slice(0, wb), (h - hb * SCALE, SCALE)),
                            (slice(0, hb), slice(wb, None), (SCALE, w - wb * SCALE)),
                            (slice(hb, None), slice(wb, None), (h - hb * SCALE, w - wb * SCALE))):
        if 0 not in sub:
            ry, rx = np.nonzero(cells[rows, cols])
            if len(ry):
                yield ry + (rows.start or 0), rx + (cols.start or 0), sub


def _index(a: np.ndarray, part) -> tuple:
    """An index of a's pixels in the part's cells, shaped (n, block height, block width, ...): whole cells through a
    block view of a (returned as the array to index), partial ones by pixel rows and columns."""
    iy, ix, sub = part
    if sub is None:
        hb, wb = a.shape[0] // SCALE, a.shape[1] // SCALE
        return a[:hb * SCALE, :wb * SCALE].reshape(hb, SCALE, wb, SCALE, a.shape[2]), (iy, slice(None), ix)
    ys = (iy * SCALE)[:, None, None] + np.arange(sub[0])[None, :, None]
    xs = (ix * SCALE)[:, None, None] + np.arange(sub[1])[None, None, :]
    return a, (ys, xs)


def gather(a: np.ndarray, part) -> np.ndarray:
    view, index = _index(a, part)
    return view[index]


def scatter(a: np.ndarray, part, values: np.ndarray) -> None:
    view, index = _index(a, part)
    view[index] = values


def _spread(small: np.ndarray, known: np.ndarray) -> np.ndarray:
    """small's unknown cells filled ring by ring from the outside: each takes the mean of its known 4-neighbours."""
    small = small.copy()
    while not known.all():
        k = known.astype(np.float32)
        v, total, count = small * k[..., None], np.zeros_like(small), np.zeros_like(k)
        for axis in (0, 1):
            for a, b in ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))):
                to, frm = [slice(None)] * 2, [slice(None)] * 2
                to[axis], frm[axis] = a, b
                total[tuple(to)] += v[tuple(frm)]
                count[tuple(to)] += k[tuple(frm)]
        new = ~known & (count > 0)
        if not new.any():  # nothing known to spread from (callers make sure something is)
            break
        small[new] = total[new] / count[new][:, None]
        known = known | new
    return small


def _bilinear_at(img: np.ndarray, height: int, width: int, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """resize_bilinear(img, height, width)[iy, ix], worked out at those pixels only."""
    h, w = img.shape[:2]
    y0, y1, wy0, wy1 = taps(np.clip((iy + 0.5) * h / height - 0.5, 0, h - 1), h, "replicate")
    x0, x1, wx0, wx1 = taps(np.clip((ix + 0.5) * w / width - 0.5, 0, w - 1), w, "replicate")
    return (img[y0, x0] * wx0 + img[y0, x1] * wx1) * wy0 + (img[y1, x0] * wx0 + img[y1, x1] * wx1) * wy1


def surroundings(sub: np.ndarray, mask: np.ndarray, h: int, w: int, need: np.ndarray | None = None) -> np.ndarray:
    """Per grid cell (sub: the frame's grid pixels), the fill where the plate never saw the background: the frame blurred
    to 1/BLUR of its size from the cells nobody covers (mask < CLEAR) only, a normalised blur, so the person's own
    colours do not show through as a ghost; coarse cells that are all person take their neighbours' colour, ring by
    ring; scaled back up bilinearly (uint8 gy x gx x 3, worked out only in the cells set in need, if given)."""
    coarse = -(-h // BLUR), -(-w // BLUR)
    clear = (mask < CLEAR).astype(np.uint8)[..., None]
    num = resize_bilinear(shrink(sub * clear, *coarse), *coarse)  # uint8 in: shrink's exact integer sums
    den = resize_bilinear(shrink(clear, *coarse), *coarse)
    known = den[..., 0] > SOME
    if not known.any():  # people nearly everywhere (too little background for any coarse cell): the plain blur
        num, den = resize_bilinear(shrink(sub, *coarse), *coarse), np.ones((*coarse, 1), np.float32)
        known = np.ones(coarse, bool)
    small = _spread(np.where(known[..., None], num / np.maximum(den, SOME), 0).astype(np.float32), known)
    iy, ix = np.nonzero(np.ones(mask.shape, bool) if need is None else need)
    fill = np.zeros((*mask.shape, 3), np.uint8)
    fill[iy, ix] = np.clip(_bilinear_at(small, *mask.shape, iy, ix) + 0.5, 0, 255)
    return fill


def _blend(rgb, image, mask, seen, fill, part) -> np.ndarray:
    """The listed cells' pixels with their person taken out: the plate where it saw the background, else the cell's
    blurred colour, blended by the cell's mask value (inside the person, where it is 1, a plain copy)."""
    iy, ix, _ = part
    behind = gather(image, part)
    unseen = ~seen[iy, ix]
    if unseen.any():
        behind[unseen] = fill[iy[unseen], ix[unseen]][:, None, None, :]
    edge = mask[iy, ix] < 1
    if edge.any():
        under = gather(rgb, (iy[edge], ix[edge], part[2])).astype(np.float32)
        m = mask[iy[edge], ix[edge]][:, None, None, None]
        behind[edge] = np.clip(under + m * (behind[edge] - under) + 0.5, 0, 255).astype(np.uint8)
    return behind


def _learn(image: np.ndarray, rgb: np.ndarray, cells: np.ndarray) -> None:
    """image = rgb in the cells set in cells: the whole frame copied, then the few cells not set put back."""
    kept = [(part, gather(image, part)) for part in _parts(~cells, *image.shape[:2])]
    np.copyto(image, rgb)
    for part, values in kept:
        scatter(image, part, values)


class Plate:
    """The background learnt over a video: call on consecutive frames; returns each frame with its people removed."""

    def __init__(self):
        self.image: Optional[np.ndarray] = None  # uint8 HxWx3: the last background colour of each pixel
        self.seen: Optional[np.ndarray] = None  # mask grid: whether the plate holds background there
        self.grid: Optional[np.ndarray] = None  # the last frame's grid pixels, and how long each has kept still
        self.still: Optional[np.ndarray] = None
        self.mask: Optional[np.ndarray] = None  # the last frame's removal mask (grid)

    def __call__(self, rgb: np.ndarray, people) -> np.ndarray:
        """rgb with the people removed, written into rgb itself (returned)."""
        h, w = rgb.shape[:2]
        mask = person_mask(people, h, w)
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
        if self.seen.any():  # what the pose left out: cells near a person that are not the background the plate knows
            apart = self.seen & near_people(people, h, w)
            apart[apart] = np.abs(grid[apart] - self.image[::SCALE, ::SCALE][apart]).mean(-1) > APART
            mask[apart] = 1
        self.mask = mask
        learn = (grow(mask, MARGIN) < CLEAR) & (self.still >= STILL)
        cells = mask > 0
        fill = None  # per cell, for the unseen ones: the scene around the people, blurred
        if (cells & ~self.seen).any():
            fill = surroundings(rgb[::SCALE, ::SCALE], mask, h, w, cells & ~self.seen)
        parts = list(_parts(cells, h, w))
        out = [_blend(rgb, self.image, mask, self.seen, fill, part) for part in parts]
        _learn(self.image, rgb, learn)  # the plate learns what is still and away from everybody
        for part, values in zip(parts, out):
            scatter(rgb, part, values)
        self.seen |= learn
        return rgb
