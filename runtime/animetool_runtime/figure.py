"""A character's figure in its canvas: the geometry the renderer draws and the generator's conditioning describes.

One home for it: the avatar renderer (toolchain) draws its parts on this geometry, and `conditioning` lays out the same
parts as soft flat-colour regions, so the generator is told where the head, hair, eyes and every limb are instead of
having to infer them from keypoints. Plain numpy; mirrored in the web app's lib/character.js.
"""
from __future__ import annotations

import math

import numpy as np

VISIBLE = 0.3  # keypoints scored below this are missing
ARMS = {"left": (5, 7, 9), "right": (6, 8, 10)}
LEGS = {"left": (11, 13, 15), "right": (12, 14, 16)}


def unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.hypot(*v)), 1e-6)


def length(kps: np.ndarray, a: int, b: int) -> float:
    """Distance between two keypoints, 0 when either is missing."""
    if kps[a, 2] < VISIBLE or kps[b, 2] < VISIBLE:
        return 0.0
    return float(np.hypot(*(kps[a, :2] - kps[b, :2])))


OUTLIER = 1.5  # a part implying more than this times the median height is a mislabelled joint, not the body


def body_height(kps: np.ndarray) -> float:
    """Nose-to-ankle height implied by the longest-looking body part (foreshortening only shortens), 0 if none.

    With three parts or more, parts implying over OUTLIER x their median are left out: a wrist labelled on the other
    side (a left/right swap) makes a "forearm" across the body, which made characters three times the person's size.
    """
    mid = lambda a, b: np.r_[(kps[a, :2] + kps[b, :2]) / 2, min(kps[a, 2], kps[b, 2])]  # noqa: E731
    torso = length(np.stack([mid(5, 6), mid(11, 12)]), 0, 1)
    parts = [(torso, 2.9), (length(kps, 5, 6), 3.8), (length(kps, 5, 7), 5.1), (length(kps, 6, 8), 5.1),
             (length(kps, 7, 9), 6.0), (length(kps, 8, 10), 6.0), (length(kps, 11, 13), 3.6),
             (length(kps, 12, 14), 3.6), (length(kps, 13, 15), 3.6), (length(kps, 14, 16), 3.6)]
    found = [length * k for length, k in parts if length > 0]
    if len(found) < 3:
        return max(found, default=0.0)
    cap = OUTLIER * float(np.median(found))
    return max(h for h in found if h <= cap)


class Figure:
    """Pose-derived geometry: which keypoints exist, the size unit u, the body's up, the head and which way it faces."""

    def __init__(self, kps: np.ndarray, size: int):
        kps = np.asarray(kps, np.float32)
        self.xy = kps[:, :2].astype(np.float64)
        self.ok = kps[:, 2] >= VISIBLE
        ok, xy = self.ok, self.xy
        face = [i for i in range(5) if ok[i]]
        height = body_height(kps)
        spans = [np.hypot(*(xy[i] - xy[j])) for i in face for j in face if i < j]
        self.u = height / 9.5 if height else (1.3 * max(spans) if spans and max(spans) > 0 else size / 12)
        shoulders = ok[5] and ok[6]
        self.up = np.array([0.0, -1.0])
        if ok[11] and ok[12] and shoulders:
            self.up = unit((xy[5] + xy[6] - xy[11] - xy[12]) / 2)
        self.head = self._head_anchor(face, shoulders)
        self.back = self.head is not None and not (ok[0] or ok[1] or ok[2])
        if shoulders and ok[11] and ok[12]:
            across = np.array([-self.up[1], self.up[0]])
            self.back |= bool((xy[6] - xy[5]) @ across > 0.15 * self.u and (xy[12] - xy[11]) @ across > 0.15 * self.u)
        self.yaw = 0.0 if self.back else self._yaw()
        self.far, self.near = ("left", "right") if self.yaw >= 0 else ("right", "left")

    def _head_anchor(self, face: list, shoulders: bool):
        """Ear/eye-level centre of the head, or above the shoulders when only they show; None when nothing does."""
        ok, xy = self.ok, self.xy
        if ok[3] and ok[4]:
            return (xy[3] + xy[4]) / 2
        ear = 3 if ok[3] else 4 if ok[4] else None
        if ear is not None:
            return xy[ear] + 0.3 * (xy[0] - xy[ear]) if ok[0] else xy[ear]
        if face:
            return xy[face].mean(0) - self.up * 0.1 * self.u
        if shoulders:
            return (xy[5] + xy[6]) / 2 + self.up * 1.4 * self.u
        return None

    def _yaw(self) -> float:
        """-1 (face turned to image left, profile) .. 1 (to image right), from the nose against ears or eyes."""
        ok, xy = self.ok, self.xy
        across = np.array([-self.up[1], self.up[0]])
        if not ok[0]:
            return 0.0
        if ok[3] and ok[4]:
            half = 0.5 * abs((xy[3] - xy[4]) @ across) + 0.15 * self.u
            return float(np.clip((xy[0] - self.head) @ across / half, -1, 1))
        if ok[3] or ok[4]:
            return float(np.sign((xy[0] - xy[3 if ok[3] else 4]) @ across)) * 0.9
        if ok[1] and ok[2]:
            half = 0.5 * np.hypot(*(xy[1] - xy[2])) + 0.1 * self.u
            return float(np.clip((xy[0] - (xy[1] + xy[2]) / 2) @ across / half, -1, 1))
        return 0.0

    def seg(self, a: int, b: int) -> bool:
        return bool(self.ok[a] and self.ok[b])

    def head_frame(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(origin, rotation 2x2, radius): head units (x across the face, y down it) -> canvas is origin + (p @ rot) * r;
        the head is rolled halfway towards the neck's direction."""
        r, up = 1.45 * self.u, self.up
        if self.seg(5, 6):
            up = unit(self.up + 0.5 * unit(self.head - (self.xy[5] + self.xy[6]) / 2))
        return self.head + up * 0.3 * r, np.stack([np.array([-up[1], up[0]]), -up]), r

    def eyes(self) -> list[tuple[float, float]]:
        """(x across the face in head units, width factor) of each eye that shows; the far one hides in profile."""
        eyes = [(self.yaw * 0.42 + s * 0.42 * (1 - 0.45 * abs(self.yaw)), 1 - 0.75 * max(0.0, -s * self.yaw)) for s in (-1, 1)]
        return [e for e in eyes if e[1] > 0.45]

    def toe(self, side: str) -> np.ndarray:
        _, k, f = LEGS[side]
        return self.xy[f] + 0.2 * self.u * unit(self.xy[f] - self.xy[k]) + 0.1 * self.u * np.array([self.yaw, 0])

    def hand(self, side: str) -> np.ndarray:
        _, e, w = ARMS[side]
        return self.xy[w] + 0.2 * self.u * unit(self.xy[w] - self.xy[e])


# Hair behind the head, per style, as head-unit rectangles (x0, x1, y0, y1) before the yaw shift: what the renderer's
# back-hair polygons cover. The ponytail's x is set by the facing.
BACK_HAIR = {"long": (-1.2, 1.2, 0.0, 1.9), "bob": (-1.22, 1.22, 0.0, 0.95)}
SIDE_LOCK = {"short": 0.35, "spiky": 0.3, "long": 0.95, "bob": 0.85, "ponytail": 0.5}  # how far down the side locks reach


def ponytail_x(fig: Figure) -> float:
    return 0.0 if fig.back else (-1.2 if fig.yaw > 0 else 1.2)


def _soft(d: np.ndarray) -> np.ndarray:
    """Coverage of a pixel whose centre is d pixels outside a shape's edge (negative: inside): a 1 px ramp."""
    return np.clip(0.5 - d, 0, 1)


def _window(lo: np.ndarray, hi: np.ndarray, size):
    """Pixel ranges (y slice, x slice) covering the box lo..hi plus 1 px, clipped to the canvas (size: a side, or
    (width, height)); None when outside."""
    width, height = (size, size) if isinstance(size, int) else size
    x0, y0 = (max(0, int(math.floor(v)) - 1) for v in lo)
    x1, y1 = min(width, int(math.ceil(hi[0])) + 2), min(height, int(math.ceil(hi[1])) + 2)
    return None if x1 <= x0 or y1 <= y0 else (slice(y0, y1), slice(x0, x1))


def capsule(size: int, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float):
    """Soft mask of a tapered limb (radius r0 at p0 to r1 at p1) as (window, values), or None off the canvas."""
    reach = max(r0, r1)
    win = _window(np.minimum(p0, p1) - reach, np.maximum(p0, p1) + reach, size)
    if win is None:
        return None
    y = np.arange(win[0].start, win[0].stop, dtype=np.float64)[:, None] - p0[1]
    x = np.arange(win[1].start, win[1].stop, dtype=np.float64)[None, :] - p0[0]
    d = p1 - p0
    t = np.clip((x * d[0] + y * d[1]) / max(float(d @ d), 1e-6), 0, 1)
    dist = np.hypot(x - t * d[0], y - t * d[1])
    return win, _soft(dist - (r0 + t * (r1 - r0)))


def ellipse(size: int, centre: np.ndarray, rx: float, ry: float):
    """Soft mask of an axis-aligned ellipse in canvas pixels."""
    win = _window(centre - (rx, ry), centre + (rx, ry), size)
    if win is None:
        return None
    y = (np.arange(win[0].start, win[0].stop, dtype=np.float64)[:, None] - centre[1]) / ry
    x = (np.arange(win[1].start, win[1].stop, dtype=np.float64)[None, :] - centre[0]) / rx
    return win, _soft((np.hypot(x, y) - 1) * min(rx, ry))


def head_shape(size: int, frame: tuple, kind: str, a: float, b: float, c: float, d: float, y_max: float = 9.0):
    """Soft mask of a shape given in head units: kind 'ellipse' (centre a, b; radii c, d; cut below y_max) or 'rect'
    (x from a to b, y from c to d)."""
    origin, rot, r = frame
    corners = np.array([[a - c, b - d], [a + c, b + d]]) if kind == "ellipse" else np.array([[a, c], [b, d]])
    box = np.array([[x, y] for x in corners[:, 0] for y in corners[:, 1]]) @ rot * r + origin
    win = _window(box.min(0), box.max(0), size)
    if win is None:
        return None
    py = np.arange(win[0].start, win[0].stop, dtype=np.float64)[:, None] - origin[1]
    px = np.arange(win[1].start, win[1].stop, dtype=np.float64)[None, :] - origin[0]
    hx, hy = (px * rot[0, 0] + py * rot[0, 1]) / r, (px * rot[1, 0] + py * rot[1, 1]) / r  # canvas -> head units
    if kind == "ellipse":
        dist = (np.hypot((hx - a) / c, (hy - b) / d) - 1) * min(c, d)
        dist = np.maximum(dist, hy - y_max)
    else:
        dist = np.maximum(np.maximum(a - hx, hx - b), np.maximum(c - hy, hy - d))
    return win, _soft(dist * r)


def polygon(size: int, pts: np.ndarray):
    """Soft mask of a convex polygon (corners in order, either winding) in canvas pixels."""
    pts = np.asarray(pts, np.float64)
    win = _window(pts.min(0), pts.max(0), size)
    if win is None:
        return None
    y = np.arange(win[0].start, win[0].stop, dtype=np.float64)[:, None]
    x = np.arange(win[1].start, win[1].stop, dtype=np.float64)[None, :]
    area = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, np.roll(pts, -1, axis=0)))
    dist = np.full((len(y), x.shape[1]), -np.inf)
    for a, b in zip(pts, np.roll(pts, -1, axis=0)):
        n = unit(np.array([b[1] - a[1], a[0] - b[0]])) * (1 if area > 0 else -1)  # outward normal
        dist = np.maximum(dist, (x - a[0]) * n[0] + (y - a[1]) * n[1])
    return win, _soft(dist)
