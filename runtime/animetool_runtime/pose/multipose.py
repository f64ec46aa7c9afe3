"""Decode the multi-person student's maps into people (MoveNet's recipe), in numpy; the web app mirrors it.

Coordinates: pixel centres are integers; a point p (input pixels) has cell coordinate q = (p + 0.5) / stride, lies in cell
c = floor(q) at offset q - c, so p = (c + offset) * stride - 0.5. Cell centres are at q = c + 0.5.
"""
from __future__ import annotations

import numpy as np


def peaks(heat: np.ndarray, threshold: float, k: int) -> list[tuple[int, int, float]]:
    """Local maxima of an hxw map (3x3 non-maximum suppression) above threshold, best first, at most k."""
    h, w = heat.shape
    pad = np.pad(heat, 1, constant_values=-np.inf)
    windows = np.stack([pad[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)])
    keep = (heat >= windows.max(0)) & (heat > threshold)
    ys, xs = np.nonzero(keep)
    order = np.argsort(-heat[ys, xs])[:k]
    return [(int(ys[i]), int(xs[i]), float(heat[ys[i], xs[i]])) for i in order]


def decode(centers: np.ndarray, heatmaps: np.ndarray, regression: np.ndarray, offsets: np.ndarray, stride: float,
           center_threshold: float = 0.3, max_people: int = 6) -> np.ndarray:
    """NCHW maps of one image -> (P, 17, 3) keypoints (x, y, score) in input pixels, plus nothing else to tune.

    Each centre peak regresses 17 keypoints; each is snapped to the nearest strong peak of its own heatmap (heatmap
    divided by distance + 1.8, as MoveNet does), refined by the sub-cell offset there.
    """
    c, hm, reg, off = centers[0, 0], heatmaps[0], regression[0], offsets[0]
    k, h, w = hm.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    people = []
    for cy, cx, score in peaks(c, center_threshold, max_people):
        rx = cx + 0.5 + reg[0::2, cy, cx]
        ry = cy + 0.5 + reg[1::2, cy, cx]
        kps = np.zeros((k, 3), np.float32)
        for j in range(k):
            dist = np.sqrt((gx + 0.5 - rx[j]) ** 2 + (gy + 0.5 - ry[j]) ** 2)
            idx = int(np.argmax(hm[j] / (dist + 1.8)))
            y, x = divmod(idx, w)
            kps[j] = ((x + off[2 * j, y, x]) * stride - 0.5, (y + off[2 * j + 1, y, x]) * stride - 0.5, hm[j, y, x])
        people.append(kps)
    return np.stack(people) if people else np.zeros((0, k, 3), np.float32)

