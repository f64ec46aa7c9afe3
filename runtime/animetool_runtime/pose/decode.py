"""Pose decoding shared by everything that reads a pose model's output (verify, animate, the web app mirrors it)."""
from __future__ import annotations

import numpy as np


def decode_heatmaps(heatmaps: np.ndarray, stride: float) -> np.ndarray:
    """1xKxhxw heatmaps -> Kx3 (x, y, score) in input pixels: argmax plus a quarter-pixel shift toward the higher neighbour."""
    hm = heatmaps[0]
    k, h, w = hm.shape
    flat = hm.reshape(k, -1)
    idx = flat.argmax(1)
    ys, xs = np.divmod(idx, w)
    fx, fy = xs.astype(np.float32), ys.astype(np.float32)
    for j in range(k):
        x, y = xs[j], ys[j]
        if 0 < x < w - 1:
            fx[j] += 0.25 * np.sign(hm[j, y, x + 1] - hm[j, y, x - 1])
        if 0 < y < h - 1:
            fy[j] += 0.25 * np.sign(hm[j, y + 1, x] - hm[j, y - 1, x])
    scores = flat[np.arange(k), idx]
    return np.stack([(fx + 0.5) * stride - 0.5, (fy + 0.5) * stride - 0.5, scores], 1).astype(np.float32)
