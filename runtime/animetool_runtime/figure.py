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


SIDE_LOCK = {"short": 0.35, "spiky": 0.3, "long": 0.95, "bob": 0.85, "ponytail": 0.5}  # how far down the side locks reach


# The head's outlines, in head units (x across the face, y down it; the skull's radius is 1): the polygons the renderer
# fills and the layout paints, so the generator is told the fringe's and the chin's exact shape.
def arc(r: float, start: float, stop: float, n: int) -> np.ndarray:
    t = np.radians(np.linspace(start, stop, n))
    return r * np.stack([np.cos(t), np.sin(t)], 1)


def skull(yaw: float) -> np.ndarray:
    """The face and skull: a round top and a chin turned with the face."""
    return np.concatenate([arc(1.0, 180, 360, 13), [(0.97, 0.4), (0.68 + 0.2 * yaw, 0.86), (0.25 * yaw, 1.08),
                                                    (-0.68 + 0.2 * yaw, 0.86), (-0.97, 0.4)]])


def nape() -> np.ndarray:
    """The hair over the head seen from behind."""
    return np.concatenate([arc(1.08, 165, 375, 15), [(0.8, 0.75), (0.4, 0.62), (0.0, 0.82), (-0.4, 0.62), (-0.8, 0.75)]])


def hair_cap(style: str, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Front hair (crown, side locks and the fringe's pointed bangs) and its shadow."""
    side = SIDE_LOCK[style]
    crown = arc(1.1, 175, 365, 17)
    if style == "spiky":
        crown = crown * np.where(np.arange(17) % 2, 1.3, 1.0)[:, None]
    tips = np.linspace(0.78, -0.78, 4) + 0.3 * yaw
    tip_y = 0.28 if style == "spiky" else 0.14
    fringe = [(0.92, -0.05)] + [p for x in tips for p in ((x + 0.2, -0.32), (x, tip_y))] + [(-0.92, -0.05)]
    cap = np.concatenate([[(-1.08, side)], crown, [(1.08, side), (0.86, side * 0.75)], fringe, [(-0.86, side * 0.75)]])
    shadow = np.concatenate([arc(1.1, 320, 365, 5), [(1.08, side), (0.86, side * 0.75)], arc(0.85, 365, 320, 5)])
    return cap, shadow


def back_hair(fig: "Figure", style: str) -> tuple[np.ndarray, float] | None:
    """Hair that hangs behind the head (long, bob or a ponytail; None for the others) and its sideways shift."""
    top, shift = arc(1.1, 0, -180, 9), (0.0 if style == "ponytail" else -0.2 * fig.yaw)
    if style == "long":
        shape = np.concatenate([top, [(-1.2, 0.9), (-1.1, 1.9), (-0.75, 1.7), (-0.4, 2.0), (0, 1.75), (0.4, 2.0),
                                      (0.75, 1.7), (1.1, 1.9), (1.2, 0.9)]])
    elif style == "bob":
        shape = np.concatenate([top, [(-1.22, 0.95), (-0.6, 0.85), (0.0, 0.95), (0.6, 0.85), (1.22, 0.95)]])
    elif style == "ponytail":
        x = ponytail_x(fig)
        shape = np.array([(0.6 * x - 0.18, -0.75), (x - 0.3, 0.0), (x - 0.2, 1.2), (x, 1.9), (x + 0.25, 1.1),
                          (x + 0.3, 0.0), (0.6 * x + 0.18, -0.75)])
    else:
        return None
    return shape + (shift, 0.0), shift


def head_points(frame: tuple, pts) -> np.ndarray:
    """Head units -> canvas points, through Figure.head_frame()."""
    origin, rot, r = frame
    return origin + (np.asarray(pts, np.float64) @ rot) * r


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


def head_ellipse(size: int, frame: tuple, cx: float, cy: float, rx: float, ry: float):
    """Soft mask of an ellipse given in head units (centre cx, cy; radii rx, ry): the eyes and the mouth."""
    origin, rot, r = frame
    box = np.array([[x, y] for x in (cx - rx, cx + rx) for y in (cy - ry, cy + ry)]) @ rot * r + origin
    win = _window(box.min(0), box.max(0), size)
    if win is None:
        return None
    py = np.arange(win[0].start, win[0].stop, dtype=np.float64)[:, None] - origin[1]
    px = np.arange(win[1].start, win[1].stop, dtype=np.float64)[None, :] - origin[0]
    hx, hy = (px * rot[0, 0] + py * rot[0, 1]) / r, (px * rot[1, 0] + py * rot[1, 1]) / r  # canvas -> head units
    return win, _soft((np.hypot((hx - cx) / rx, (hy - cy) / ry) - 1) * min(rx, ry) * r)


def polygon(size: int, pts: np.ndarray):
    """Soft mask of a simple polygon (corners in order, either winding, convex or not) in canvas pixels: inside by the
    even-odd rule, a 1 px ramp across its nearest edge. The ramp only reaches 0.5 px, so each edge's distance is
    computed within 1 px of the edge alone (beyond it every pixel is wholly in or out)."""
    pts = np.asarray(pts, np.float64)
    win = _window(pts.min(0), pts.max(0), size)
    if win is None:
        return None
    y = np.arange(win[0].start, win[0].stop, dtype=np.float64)
    x = np.arange(win[1].start, win[1].stop, dtype=np.float64)
    a, d = pts, np.roll(pts, -1, axis=0) - pts
    spans = (a[:, 1, None] > y) != (a[:, 1, None] + d[:, 1, None] > y)  # (edges, rows): the edge cuts the row
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = (y - a[:, 1, None]) * d[:, 0, None] / d[:, 1, None]  # where, from the edge's start
    inside = (spans[:, :, None] & (x - a[:, 0, None, None] < cut[:, :, None])).sum(0) % 2 == 1
    dist = np.ones(inside.shape)
    for (ax, ay), (dx, dy) in zip(a, d):
        ys = slice(max(0, int(math.floor(min(ay, ay + dy) - y[0])) - 1), max(0, int(math.ceil(max(ay, ay + dy) - y[0])) + 2))
        xs = slice(max(0, int(math.floor(min(ax, ax + dx) - x[0])) - 1), max(0, int(math.ceil(max(ax, ax + dx) - x[0])) + 2))
        px, py = x[None, xs] - ax, y[ys, None] - ay
        t = np.clip((px * dx + py * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        np.minimum(dist[ys, xs], np.hypot(px - t * dx, py - t * dy), out=dist[ys, xs])
    return win, _soft(np.where(inside, -dist, dist))
