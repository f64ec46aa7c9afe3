"""Image pre-processing from the manifest's fields; the web app mirrors this exactly, so keep it plain numpy."""
from __future__ import annotations

import numpy as np

from .blocks import Preprocess


def resize_bilinear(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Half-pixel-centre bilinear resize of an HxWxC array (what torch/TF/JS canvases agree on), float32 out."""
    h, w = img.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * h / height - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * w / width - 0.5, 0, w - 1)
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    im = np.asarray(img, np.float32)
    r0, r1 = im[y0], im[y1]  # each source row gathered once
    top = r0[:, x0] * (1 - wx) + r0[:, x1] * wx
    bottom = r1[:, x0] * (1 - wx) + r1[:, x1] * wx
    return top * (1 - wy) + bottom * wy


def shrink(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Halve by 2x2 means while still at least twice the target size, so a big downscale does not alias thin limbs.

    Two halvings at once are one 4x4 mean (the same numbers: h // 2 // 2 == h // 4), summed exactly in uint16 for
    uint8 frames: one pass over a big camera frame instead of two. The k rows of each block are summed first (whole
    contiguous rows), then the k columns of the k-times smaller result: 1.5-2.5x faster than k x k strided sums.
    """
    while img.shape[0] >= 2 * height and img.shape[1] >= 2 * width:
        k = 4 if img.shape[0] >= 4 * height and img.shape[1] >= 4 * width else 2
        h, w = img.shape[0] // k * k, img.shape[1] // k * k
        rows = np.add(img[0:h:k, :w], img[1:h:k, :w], dtype=np.uint16 if img.dtype == np.uint8 else np.float32)
        for dy in range(2, k):
            rows += img[dy:h:k, :w]
        cells = rows.reshape(h // k, w // k, k, *img.shape[2:])
        total = np.add(cells[:, :, 0], cells[:, :, 1])
        for dx in range(2, k):
            total += cells[:, :, dx]
        img = np.multiply(total, np.float32(1 / (k * k)), dtype=np.float32)
    return img


def input_transform(h: int, w: int, spec: Preprocess) -> tuple[float, float, float, float]:
    """(sx, sy, px, py) taking image pixel centres to model input pixels: u = (x + 0.5) * sx - 0.5 + px.

    "stretch" fills the input; "letterbox" keeps the aspect ratio and pads both sides equally.
    """
    in_h, in_w = spec.size
    if spec.resize != "letterbox":
        return in_w / w, in_h / h, 0.0, 0.0
    s = min(in_h / h, in_w / w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    return nw / w, nh / h, float((in_w - nw) // 2), float((in_h - nh) // 2)


def to_image_coords(points: np.ndarray, h: int, w: int, spec: Preprocess) -> np.ndarray:
    """Model-input pixel coordinates (..., >=2) back to the original image's pixels (other columns kept)."""
    sx, sy, px, py = input_transform(h, w, spec)
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., 0] = (out[..., 0] - px + 0.5) / sx - 0.5
    out[..., 1] = (out[..., 1] - py + 0.5) / sy - 0.5
    return out


def preprocess(rgb: np.ndarray, spec: Preprocess) -> np.ndarray:
    """uint8 HxWx3 RGB frame -> 1x3xHxW float32 input, as the manifest's preprocess block says."""
    in_h, in_w = spec.size
    h, w = rgb.shape[:2]
    sx, sy, px, py = input_transform(h, w, spec)
    nh, nw = round(h * sy), round(w * sx)
    x = resize_bilinear(shrink(rgb, nh, nw), nh, nw)
    lo, hi = spec.range
    mean = np.broadcast_to(np.asarray(spec.mean, np.float32), (3,))
    std = np.broadcast_to(np.asarray(spec.std, np.float32), (3,))
    out = np.empty((1, 3, in_h, in_w), np.float32)
    y0, x0 = int(py), int(px)
    if (nh, nw) != (in_h, in_w):  # letterbox: the pad's value normalised once, the picture (as float32) only where it is
        out[0] = (((np.full(3, spec.pad_value, np.float32) / 255.0) * (hi - lo) + lo - mean) / std)[:, None, None]
        x = x.astype(np.float32, copy=False)
    for c in range(3):  # channel by channel, straight into CHW: the same float ops on each value as a whole-array pass
        out[0, c, y0:y0 + nh, x0:x0 + nw] = ((x[..., c] / 255.0) * (hi - lo) + lo - mean[c]) / std[c]
    return out


def taps(coord: np.ndarray, size: int, border: str = "zero"):
    """Bilinear taps along one axis: both neighbours (clamped) and their weights, shaped coord.shape + (1,); border
    "zero" zeroes the weight of a neighbour outside [0, size), "replicate" reads the edge."""
    i0 = np.floor(coord)
    w1 = (coord - i0)[..., None]
    i0 = i0.astype(np.intp)
    w0 = 1 - w1
    if border == "zero":
        w0 = w0 * ((i0 >= 0) & (i0 < size))[..., None]
        w1 = w1 * ((i0 >= -1) & (i0 < size - 1))[..., None]
    return np.clip(i0, 0, size - 1), np.clip(i0 + 1, 0, size - 1), w0, w1


def warp_affine(img: np.ndarray, matrix: np.ndarray, out_h: int, out_w: int, border: str = "zero") -> np.ndarray:
    """Bilinear sample of img at matrix @ (x, y, 1) for every output pixel (x, y), float32 out: rotated crops, letterboxes.

    Pixel centres sit at integer coordinates, as in OpenCV's warpAffine; border "zero" reads 0 outside, "replicate" the edge.
    """
    if border not in ("zero", "replicate"):
        raise ValueError(f"border must be 'zero' or 'replicate', got {border!r}")
    h, w = img.shape[:2]
    m = np.asarray(matrix, np.float32)
    ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    x0, x1, wx0, wx1 = taps(m[0, 0] * xs + m[0, 1] * ys + m[0, 2], w, border)
    y0, y1, wy0, wy1 = taps(m[1, 0] * xs + m[1, 1] * ys + m[1, 2], h, border)
    flat = img.reshape(h * w, -1)

    def tap(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return np.take(flat, yy * w + xx, axis=0).astype(np.float32)

    out = (tap(y0, x0) * wx0 + tap(y0, x1) * wx1) * wy0 + (tap(y1, x0) * wx0 + tap(y1, x1) * wx1) * wy1
    return out.reshape((out_h, out_w) + img.shape[2:])
