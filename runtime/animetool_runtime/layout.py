"""The flat layout of a character: where each colour shows and where the eyes and mouth are, as soft canvas masks.

The renderer's parts (toolchain/data/avatar.py) in its drawing order, each reduced to a capsule, ellipse or polygon on the
shared Figure geometry (the head's outlines are the renderer's own polygons: skull and chin, the hair's crown, side
locks and pointed fringe, the hair behind), and composited front to back so a nearer part hides a farther one. The
generator then has to add outlines, cel shading and the eyes' detail where it is told they go, not guess a head from
five keypoints.
"""
from __future__ import annotations

import numpy as np

from .figure import ARMS, LEGS, Figure, back_hair, capsule, ellipse, hair_cap, head_ellipse, head_points, nape, polygon, skull, unit

COLOURS = ("skin", "hair", "top", "bottom", "shoes")  # the appearance's colours, each painted where it shows
FACE_MAPS = ("eyes", "mouth")
EYE_LEVELS = (1.0, 0.6, 0.25)  # the eyes map: white of the eye, iris, pupil (a face-feature drawing, not a mask)
MOUTH = 0.8  # the mouth's height on the face


def _arm(fig: Figure, side: str, size: int) -> list:
    s, e, w = ARMS[side]
    xy, u, parts = fig.xy, fig.u, []
    if fig.seg(s, e):
        parts.append(("top", capsule(size, xy[s], xy[e], 0.38 * u, 0.3 * u)))
        if fig.seg(e, w):
            parts += [("skin", capsule(size, xy[e], xy[w], 0.26 * u, 0.2 * u)),
                      ("skin", ellipse(size, fig.hand(side), 0.27 * u, 0.27 * u))]
    return parts


def _leg(fig: Figure, side: str, size: int, long_trousers: bool, with_pelvis: bool) -> list:
    h, k, f = LEGS[side]
    xy, u, parts = fig.xy, fig.u, []
    if with_pelvis and fig.seg(11, 12):
        parts.append(("bottom", capsule(size, xy[11] + fig.up * 0.15 * u, xy[12] + fig.up * 0.15 * u, 0.45 * u, 0.45 * u)))
    if fig.seg(h, k):
        parts.append(("bottom", capsule(size, xy[h], xy[k], 0.52 * u, 0.38 * u)))
        if fig.seg(k, f):
            parts.append(("bottom" if long_trousers else "skin", capsule(size, xy[k], xy[f], 0.37 * u, 0.26 * u)))
    if fig.seg(k, f):
        parts.append(("shoes", ellipse(size, fig.toe(side), 0.38 * u, 0.25 * u)))
    return parts


def _torso(fig: Figure, size: int) -> list:
    if not fig.seg(5, 6):
        return []
    xy, u, up = fig.xy, fig.u, fig.up
    across = unit(xy[5] - xy[6])
    if fig.seg(11, 12):
        hips = [xy[11] + 0.05 * (xy[5] - xy[11]), xy[12] + 0.05 * (xy[6] - xy[12])]
    else:  # hips out of frame: the torso runs on below the shoulders, as the renderer draws it
        hips = [xy[5] + 2.6 * u * np.array([0, 1.0]), xy[6] + 2.6 * u * np.array([0, 1.0])]
    neck = (xy[5] + xy[6]) / 2
    body = np.stack([xy[5] + across * 0.3 * u + up * 0.12 * u, xy[6] - across * 0.3 * u + up * 0.12 * u,
                     hips[1] - across * 0.4 * u, hips[0] + across * 0.4 * u])
    return [("skin", capsule(size, neck, neck + up * 1.2 * u, 0.2 * u, 0.2 * u)), ("top", polygon(size, body))]


def _head(fig: Figure, size: int, style: str, frame) -> list:
    face = ("skin", polygon(size, head_points(frame, skull(fig.yaw))))
    if fig.back:
        return [face, ("hair", polygon(size, head_points(frame, nape())))] + _hair(fig, size, style, frame)
    # layout 4: the eyes are painted in the hair's colour (the renderer draws the irises and lashes from it), under
    # the hair's crown as it draws them: the colour is at hand where the eyes map says iris, not a head's width away
    eyes = [("hair", head_ellipse(size, frame, x, 0.36, 0.2 * w, 0.3)) for x, w in fig.eyes()]
    return [face, *eyes, ("hair", polygon(size, head_points(frame, hair_cap(style, fig.yaw)[0])))]


def _hair(fig: Figure, size: int, style: str, frame) -> list:
    """The hair hanging behind the head (in front of it when seen from behind)."""
    hair = back_hair(fig, style)
    return [] if hair is None else [("hair", polygon(size, head_points(frame, hair[0])))]


def layout(canvas_keypoints: np.ndarray, appearance, size: int) -> tuple[dict, np.ndarray, list]:
    """({colour: (size, size) float32 share of each pixel showing that colour}, (len(FACE_MAPS), size, size) maps,
    the windows (y slice, x slice) painted: every mask and map is zero outside them)."""
    fig = Figure(canvas_keypoints, size)
    a = appearance
    frame = fig.head_frame() if fig.head is not None else None
    parts = []  # back to front, as the renderer draws
    if frame is not None and not fig.back:
        parts += _hair(fig, size, a.hair_style, frame)
    parts += _arm(fig, fig.far, size) + _leg(fig, fig.far, size, a.long_trousers, False)
    parts += _leg(fig, fig.near, size, a.long_trousers, True) + _torso(fig, size)
    if frame is not None:
        parts += _head(fig, size, a.hair_style, frame)
    parts += _arm(fig, fig.near, size)
    masks = {c: np.zeros((size, size), np.float32) for c in COLOURS}
    covered = np.zeros((size, size), np.float32)
    windows = []
    for colour, part in reversed(parts):  # front to back: each part shows where nearer ones left room
        if part is None:
            continue
        win, m = part
        windows.append(win)
        seen = m * (1 - covered[win])
        masks[colour][win] += seen
        covered[win] += seen
    face = np.zeros((len(FACE_MAPS), size, size), np.float32)
    if frame is not None and not fig.back:
        look = np.array([0.05 * fig.yaw, 0.03])  # where the irises look, as the renderer draws them
        for x, w in fig.eyes():
            c = np.array([x, 0.36]) + look
            for (cx, cy), rx, ry, level in (((x, 0.36), 0.2 * w, 0.3, 1.0), (c, 0.16 * w, 0.26, EYE_LEVELS[1]),
                                            (c, 0.07 * w, 0.11, EYE_LEVELS[2])):
                windows.append(_paint(face[0], head_ellipse(size, frame, cx, cy, rx, ry), level))
        windows.append(_paint(face[1], head_ellipse(size, frame, fig.yaw * 0.5, MOUTH, 0.14, 0.08), 1.0))
    return masks, face, [w for w in windows if w is not None]


def _paint(plane: np.ndarray, part, level: float):
    """Paint level over the plane where the part covers it (soft edges blend); the window painted, or None."""
    if part is not None:
        win, m = part
        plane[win] += m * (np.float32(level) - plane[win])
        return win
    return None
