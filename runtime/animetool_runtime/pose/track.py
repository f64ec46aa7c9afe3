"""People across frames: identities by OKS matching, and a One Euro filter per track so characters do not jitter.

Plain numpy; the web app mirrors it. Keypoints are (17, 3) arrays (x, y, score) in frame pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..figure import VISIBLE, body_height

# COCO's per-keypoint OKS falloffs (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


def box(kps: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of the visible keypoints (all of them when none is visible)."""
    pts = kps[kps[:, 2] >= VISIBLE, :2]
    pts = pts if len(pts) else kps[:, :2]
    return np.r_[pts.min(0), pts.max(0)].astype(np.float32)


def oks(a: np.ndarray, b: np.ndarray) -> float:
    """COCO object keypoint similarity of b to a, over a's visible keypoints, scaled by a's box area x 1.44."""
    vis = (a[:, 2] >= VISIBLE) & (b[:, 2] >= VISIBLE)
    if not vis.any():
        return 0.0
    x0, y0, x1, y1 = box(a)
    area = max((x1 - x0) * (y1 - y0) * 1.44, 1.0)
    d2 = ((a[vis, :2] - b[vis, :2]) ** 2).sum(1)
    return float(np.exp(-d2 / (2 * area * (2 * SIGMAS[vis]) ** 2)).sum() / max(int((a[:, 2] >= VISIBLE).sum()), 1))


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each row of boxes (N, 4); 0 where the union is empty."""
    box, boxes = np.asarray(box, np.float64), np.asarray(boxes, np.float64).reshape(-1, 4)
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) - inter
    return inter / np.maximum(union, 1e-12)


def similarity(track: np.ndarray, person: np.ndarray) -> float:
    """How likely person is track's next pose: OKS, or the box overlap when fast motion makes OKS fall."""
    return max(oks(track, person), float(iou(box(track), box(person))[0]))


def suppress(people: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    """Pose NMS: of detections this similar to a higher-scored one, keep the higher (a decoder may see one person
    twice; the copy would otherwise start a track of its own and split the person's identity)."""
    people = np.asarray(people, np.float32).reshape(-1, 17, 3)
    order = np.argsort(-people[:, :, 2].mean(1), kind="stable")
    kept: list[np.ndarray] = []
    for i in order:
        if all(similarity(k, people[i]) < threshold for k in kept):
            kept.append(people[i])
    return np.asarray(kept, np.float32).reshape(-1, 17, 3)


class OneEuro:
    """One Euro filter (Casiez et al., CHI 2012) on the 17 keypoints: heavy smoothing at rest, little lag in motion.

    Speed is measured in body heights per second, so one setting suits near and far people alike. A keypoint that
    was missing restarts from its raw value.
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 2.0, d_cutoff: float = 1.0):
        self.dt, self.min_cutoff, self.beta, self.d_cutoff = 1.0 / fps, min_cutoff, beta, d_cutoff
        self.x: Optional[np.ndarray] = None
        self.dx = np.zeros((17, 2), np.float32)

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / self.dt)

    def __call__(self, kps: np.ndarray, scale: float) -> np.ndarray:
        raw = kps[:, :2].astype(np.float32)
        seen = kps[:, 2] >= VISIBLE
        if self.x is None:
            self.x, self.seen = raw.copy(), seen
            return kps.astype(np.float32)
        fresh = seen & ~self.seen
        prev = np.where(fresh[:, None], raw, self.x)
        dx = (raw - prev) / self.dt / max(scale, 1.0)
        self.dx = np.where(fresh[:, None], 0.0, self._alpha(self.d_cutoff) * dx + (1 - self._alpha(self.d_cutoff)) * self.dx)
        a = self._alpha(self.min_cutoff + self.beta * np.linalg.norm(self.dx, axis=1))[:, None]
        x = np.where(seen[:, None], a * raw + (1 - a) * prev, prev)
        self.x, self.seen = x.astype(np.float32), seen | self.seen
        return np.concatenate([self.x, kps[:, 2:3]], 1).astype(np.float32)


HOLD_SECONDS = 0.5  # a keypoint the model loses keeps its last place (moved with the body) this long
FADE_SECONDS = 0.4  # a person without a whole body to draw keeps their last whole character, fading out, this long
LOST_SECONDS = 3.0  # a lost track can be taken up again this long (backlight, occlusion, a jump out of view)
CONFIRM = 3  # frames a new person must be seen before their character is drawn: one-frame false detections are not
MIN_KEYPOINTS = 3  # a detection with fewer visible keypoints is no person: a stray point or two would pass for one


# (joint, its end, the other side's joint, its end, body height / limb length): upper arms, forearms, thighs, shins
LIMBS = ((5, 7, 6, 8, 5.1), (7, 9, 8, 10, 6.0), (11, 13, 12, 14, 3.6), (13, 15, 14, 16, 3.6))
TOO_LONG = 1.5  # a limb longer than this times what the body's height implies is not that limb


def untangle(kps: np.ndarray) -> np.ndarray:
    """Left/right labels of elbows, wrists, knees and ankles swapped back where the pose model crossed them: both
    limbs implausibly long (a forearm across the body) while swapped they are plausible. Genuinely crossed or
    folded limbs have plausible lengths and keep their labels."""
    kps = np.asarray(kps, np.float32).copy()
    height = body_height(kps)
    for a, end_a, b, end_b, k in LIMBS:
        if not height or not (kps[[a, end_a, b, end_b], 2] >= VISIBLE).all():
            continue
        d = lambda i, j: float(np.hypot(*(kps[i, :2] - kps[j, :2])))  # noqa: E731
        limit = TOO_LONG * height / k
        if max(d(a, end_a), d(b, end_b)) > limit >= max(d(a, end_b), d(b, end_a)):
            kps[[end_a, end_b]] = kps[[end_b, end_a]]
    return kps


def complete(kps: np.ndarray) -> np.ndarray:
    """Fill a missing shoulder (hip) from the other shoulder (hip) and both hips (shoulders): the torso's proportions."""
    kps = kps.copy()
    seen = kps[:, 2] >= VISIBLE
    for (a, b), (c, d) in (((5, 6), (11, 12)), ((11, 12), (5, 6))):
        if seen[c] and seen[d] and seen[a] != seen[b]:
            have, miss = (a, b) if seen[a] else (b, a)
            other = (c, d)[(a, b).index(have)], (c, d)[(a, b).index(miss)]
            kps[miss] = np.r_[kps[have, :2] + kps[other[1], :2] - kps[other[0], :2], VISIBLE]
    return kps


def whole(kps: np.ndarray) -> bool:
    """Both shoulders: the renderer then draws a torso and, from the shoulders at least, a head."""
    return bool((kps[[5, 6], 2] >= VISIBLE).all())


class Hold:
    """What a track draws: its keypoints with short gaps filled, completed, or its last whole pose fading out."""

    def __init__(self, fps: float):
        self.hold, self.fade = max(1, round(HOLD_SECONDS * fps)), max(1, round(FADE_SECONDS * fps))
        self.last: Optional[np.ndarray] = None  # last keypoints, held ones included
        self.age = np.zeros(17, np.int64)  # frames since each keypoint was seen
        self.whole: Optional[np.ndarray] = None  # the last whole pose
        self.broken = 0  # frames since the pose was whole

    def __call__(self, kps: Optional[np.ndarray]) -> tuple[Optional[np.ndarray], float]:
        """This frame's smoothed keypoints (None: the person was not found) -> (pose to draw or None, opacity)."""
        if kps is not None:
            kps = np.asarray(kps, np.float32).copy()
            seen = kps[:, 2] >= VISIBLE
            if self.last is not None:
                keep = ~seen & (self.last[:, 2] >= VISIBLE) & (self.age < self.hold)
                kps[keep] = np.c_[self.last[keep, :2] + _shift(self.last, kps), np.full(keep.sum(), VISIBLE)]
            self.age = np.where(seen, 0, self.age + 1)
            kps = complete(kps)
            self.last = kps
            if whole(kps):
                self.whole, self.broken = kps, 0
                return kps, 1.0
        self.broken += 1
        if self.whole is None or self.broken > self.fade:
            return None, 0.0
        if kps is not None:
            self.whole = self.whole.copy()
            self.whole[:, :2] += _shift(self.whole, kps)
        return self.whole, 1.0 - self.broken / (self.fade + 1)


def _shift(before: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Mean motion of the keypoints seen in both (zero when none is)."""
    both = (before[:, 2] >= VISIBLE) & (now[:, 2] >= VISIBLE)
    return (now[both, :2] - before[both, :2]).mean(0) if both.any() else np.zeros(2, np.float32)


@dataclass
class Track:
    id: int
    keypoints: np.ndarray  # smoothed, frame pixels
    raw: np.ndarray  # the last detection
    filter: OneEuro
    hold: Hold
    last_seen: int
    hits: int = 1  # frames seen
    pose: Optional[np.ndarray] = None  # what to draw this frame (None: nothing)
    opacity: float = 1.0
    appearance: Optional[np.ndarray] = field(default=None, repr=False)  # vector, refreshed by the caller

    @property
    def height(self) -> float:
        x0, y0, x1, y1 = box(self.raw)
        return float(max(y1 - y0, x1 - x0, 1.0))


def frame_people(detections: np.ndarray, max_people: Optional[int] = None) -> list[np.ndarray]:
    """A pose model's detections (P, 17, 3) -> the frame's people, as the tracker takes them: one pose per person
    (suppress), best first, at most max_people, crossed limbs untangled, stray points (under MIN_KEYPOINTS visible)
    left out. A stray point matched to a person lost in backlight would become the track's last box, one pixel wide,
    and the person, found again, would start a new track (the Sports2D demo's man on the roof did)."""
    people = [p for p in suppress(detections) if (p[:, 2] >= VISIBLE).sum() >= MIN_KEYPOINTS]
    return [untangle(p) for p in people[:max_people]]


class Tracker:
    """Greedy matching (OKS or box IoU) of each frame's people to the tracks; a person matching none takes up a lost
    track whose last place is near enough for the time lost, else starts one. A track is drawn once seen CONFIRM
    times; its pose goes through its Hold; unseen for LOST_SECONDS, it ends."""

    def __init__(self, fps: float, max_age: Optional[int] = None, min_similarity: float = 0.1, confirm: int = CONFIRM,
                 **filter_args):
        self.fps, self.max_age, self.min_similarity = fps, max_age or max(1, round(LOST_SECONDS * fps)), min_similarity
        self.confirm = confirm  # 1 for a single picture: there is no next frame to confirm anyone in
        self.filter_args = filter_args
        self.tracks: list[Track] = []
        self.next_id = 0

    def update(self, people, frame: int) -> list[Track]:
        """This frame's people (frame_people's list of (17, 3)) -> the tracks to draw in it (pose and opacity set), by id."""
        recent = round(HOLD_SECONDS * self.fps)  # older detections are too stale to overlap: those tracks are lost
        pairs = sorted(((similarity(t.raw, p), ti, pi) for ti, t in enumerate(self.tracks) for pi, p in enumerate(people)
                        if frame - t.last_seen <= recent), reverse=True)
        used_t, used_p = set(), set()
        matches = []
        for score, ti, pi in pairs:
            if score < self.min_similarity or ti in used_t or pi in used_p:
                continue
            used_t.add(ti), used_p.add(pi)
            matches.append((self.tracks[ti], people[pi]))
        for pi, p in enumerate(people):
            if pi in used_p:
                continue
            lost = self._nearest_lost(p, frame, used_t)
            if lost is None:
                lost = Track(self.next_id, p.astype(np.float32), p, OneEuro(self.fps, **self.filter_args), Hold(self.fps), frame, 0)
                self.next_id += 1
                self.tracks.append(lost)
            used_t.add(self.tracks.index(lost))
            matches.append((lost, p))
        for t, p in matches:
            t.raw, t.last_seen, t.hits = p, frame, t.hits + 1
            t.keypoints = t.filter(p, t.height)
            t.pose, t.opacity = t.hold(t.keypoints)
        for t in self.tracks:
            if t.last_seen != frame:
                t.pose, t.opacity = t.hold(None)
        # a new person missed before being confirmed was most likely no person: forgotten, not kept as lost
        self.tracks = [t for t in self.tracks if frame - t.last_seen <= (self.max_age if t.hits >= self.confirm else 0)]
        return sorted((t for t in self.tracks if t.pose is not None and t.hits >= self.confirm), key=lambda t: t.id)

    def _nearest_lost(self, person: np.ndarray, frame: int, taken: set) -> Optional[Track]:
        """The lost track whose last box centre is nearest the person, within a body height per second lost (plus
        half a height), of a like body size when both sizes are known (limbs imply it; a head alone does not)."""
        best, best_d = None, np.inf
        b, size = box(person), body_height(person)
        for ti, t in enumerate(self.tracks):
            if ti in taken or t.last_seen >= frame:
                continue
            tb, t_size = box(t.raw), body_height(t.raw)
            d = float(np.hypot(*((b[:2] + b[2:]) / 2 - (tb[:2] + tb[2:]) / 2))) / t.height
            alike = not (size and t_size) or 0.5 <= size / t_size <= 2
            if d <= 0.5 + (frame - t.last_seen) / self.fps and alike and d < best_d:
                best, best_d = t, d
        return best


def jitter(track: np.ndarray) -> float:
    """Mean keypoint acceleration |x[t+1] - 2 x[t] + x[t-1]| (pixels) of a (T, 17, 3) track over visible triples."""
    t = np.asarray(track, np.float32)
    if len(t) < 3:
        return 0.0
    acc = np.linalg.norm(t[2:, :, :2] - 2 * t[1:-1, :, :2] + t[:-2, :, :2], axis=-1)
    vis = (t[2:, :, 2] >= VISIBLE) & (t[1:-1, :, 2] >= VISIBLE) & (t[:-2, :, 2] >= VISIBLE)
    return float(acc[vis].mean()) if vis.any() else 0.0
