"""Image pre-processing from the manifest's fields; the web app mirrors this exactly, so keep it plain numpy."""
from __future__ import annotations

import numpy as np


def resize_bilinear(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Half-pixel-centre bilinear resize of an HxWxC array (what torch/TF/JS canvases agree on), float32 out."""
    h, w = img.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    im = img.astype(np.float32)
    top = im[y0][:, x0] * (1 - wx) + im[y0][:, x1] * wx
    bottom = im[y1][:, x0] * (1 - wx) + im[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def preprocess(rgb: np.ndarray, spec: dict) -> np.ndarray:
    """uint8 HxWx3 RGB frame -> 1x3xHxW float32 input, as the manifest's preprocess block says (stretch resize)."""
    h, w = spec["size"]
    x = resize_bilinear(rgb, h, w) / 255.0
    lo, hi = spec.get("range", [0, 1])
    x = x * (hi - lo) + lo
    mean = np.asarray(spec.get("mean", [0.0, 0.0, 0.0]), np.float32)
    std = np.asarray(spec.get("std", [1.0, 1.0, 1.0]), np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
