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


def warp_affine(img: np.ndarray, matrix: np.ndarray, out_h: int, out_w: int, border: str = "zero") -> np.ndarray:
    """Bilinear sample of img at matrix @ (x, y, 1) for every output pixel (x, y), float32 out: rotated crops, letterboxes.

    Pixel centres sit at integer coordinates, as in OpenCV's warpAffine; border "zero" reads 0 outside, "replicate" the edge.
    """
    if border not in ("zero", "replicate"):
        raise ValueError(f"border must be 'zero' or 'replicate', got {border!r}")
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    m = np.asarray(matrix, np.float32)

    def axis(coord: np.ndarray, size: int):
        """Both neighbours along one axis (clamped) and their weights (zeroed outside the image for border "zero")."""
        i0 = np.floor(coord)
        w1 = (coord - i0)[..., None]
        i0 = i0.astype(np.intp)
        w0 = 1 - w1
        if border == "zero":
            w0 = w0 * ((i0 >= 0) & (i0 < size))[..., None]
            w1 = w1 * ((i0 >= -1) & (i0 < size - 1))[..., None]
        return np.clip(i0, 0, size - 1), np.clip(i0 + 1, 0, size - 1), w0, w1

    x0, x1, wx0, wx1 = axis(m[0, 0] * xs + m[0, 1] * ys + m[0, 2], w)
    y0, y1, wy0, wy1 = axis(m[1, 0] * xs + m[1, 1] * ys + m[1, 2], h)
    flat = img.reshape(h * w, -1)

    def tap(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return np.take(flat, yy * w + xx, axis=0).astype(np.float32)

    out = (tap(y0, x0) * wx0 + tap(y0, x1) * wx1) * wy0 + (tap(y1, x0) * wx0 + tap(y1, x1) * wx1) * wy1
    return out.reshape((out_h, out_w) + img.shape[2:])
