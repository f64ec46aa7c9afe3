"""A cel-shaded anime character drawn in any COCO-17 pose: the pose -> image pairs the generator learns from (PSGAN).

Every part is a polygon in canvas pixels, drawn with PIL at SUPERSAMPLE x and box-downsampled (anti-aliasing); the
character is drawn over a transparent layer whose colour is the background, so the downsampled RGB is already the
composite and its alpha the coverage.
"""
from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw

from animetool_runtime.character import HAIR_STYLES, Appearance
from animetool_runtime.figure import ARMS, LEGS, Figure, arc, back_hair, hair_cap, head_points, nape, skull, unit as _unit

SUPERSAMPLE = 3
LIGHT = np.array([1.0, 1.0]) / math.sqrt(2)  # shadows fall on the side facing image right/down (light from upper left)
SKIN_TONES = [(1.0, 0.89, 0.8), (0.98, 0.82, 0.7), (0.93, 0.74, 0.6), (0.85, 0.64, 0.48), (0.72, 0.52, 0.37),
              (0.58, 0.4, 0.28), (0.45, 0.3, 0.21), (0.36, 0.24, 0.17)]
HAIR_COLOURS = [(0.1, 0.08, 0.1), (0.24, 0.15, 0.11), (0.45, 0.28, 0.16), (0.88, 0.72, 0.45), (0.72, 0.3, 0.15),
                (0.78, 0.78, 0.82), (0.97, 0.6, 0.74), (0.36, 0.52, 0.92), (0.58, 0.42, 0.82), (0.3, 0.72, 0.6),
                (0.98, 0.86, 0.45)]
DENIM = [(0.22, 0.3, 0.5), (0.35, 0.45, 0.65), (0.12, 0.12, 0.15), (0.62, 0.55, 0.42), (0.45, 0.45, 0.48)]
SHOE_COLOURS = [(0.95, 0.95, 0.95), (0.12, 0.12, 0.13), (0.42, 0.27, 0.17), (0.55, 0.55, 0.58)]


def shade(c, k: float = 0.78) -> tuple:
    """The darker cel tone: darker and a little cooler."""
    return tuple(float(x) for x in np.clip(np.asarray(c) * np.array([k, k * 0.97, k * 1.08]), 0, 1))


def _ellipse(c: np.ndarray, rx: float, ry: float, n: int = 20) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([c[0] + rx * np.cos(t), c[1] + ry * np.sin(t)], 1)


def _capsule(p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, n: int = 7) -> np.ndarray:
    """Tapered limb outline: half discs of radius r0 at p0 and r1 at p1 joined by straight sides."""
    a = math.atan2(*(p1 - p0)[::-1])
    t = np.linspace(-math.pi / 2, math.pi / 2, n)
    end = p1 + r1 * np.stack([np.cos(a + t), np.sin(a + t)], 1)
    start = p0 + r0 * np.stack([np.cos(a + t + math.pi), np.sin(a + t + math.pi)], 1)
    return np.concatenate([end, start])


def _limb(p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, colour) -> tuple[tuple, tuple]:
    """A limb segment's (outline polygon, colour) and its shadow strip (the outer part of its shadow side)."""
    n = _unit(np.array([-(p1 - p0)[1], (p1 - p0)[0]]))
    n = n if n @ LIGHT >= 0 else -n
    strip = np.stack([p0 + n * r0 * 0.25, p1 + n * r1 * 0.25, p1 + n * r1, p0 + n * r0])
    return (_capsule(p0, p1, r0, r1), colour), (strip, shade(colour))


class _Pen:
    """Draws parts (outlined, filled polygons plus their shadow polygons) at SUPERSAMPLE x on an RGBA layer."""

    def __init__(self, size: int, background, outline_px: float):
        bg = tuple(int(round(255 * c)) for c in background)
        self.img = Image.new("RGBA", (size * SUPERSAMPLE,) * 2, bg + (0,))
        self.draw = ImageDraw.Draw(self.img)
        self.width = max(1, round(2 * outline_px * SUPERSAMPLE))

    def part(self, fills: list, details: list = ()) -> None:
        """fills: [(polygon, colour)] outlined together (no seams inside a part); details: [(polygon, colour)] on top,
        not outlined (shadows, eyes)."""
        def pts(poly) -> list:
            return [tuple(p) for p in np.asarray(poly, np.float64) * SUPERSAMPLE + (SUPERSAMPLE - 1) / 2]

        def rgba(c) -> tuple:
            return tuple(int(round(255 * x)) for x in c) + (255,)

        for poly, c in fills:  # a dark line of the part's own colour, half of it left outside once filled
            self.draw.line(pts(poly) + pts(poly)[:1], fill=rgba(np.asarray(c) * 0.28), width=self.width, joint="curve")
        for poly, c in fills + list(details):
            self.draw.polygon(pts(poly), fill=rgba(c))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Downsampled RGB (not premultiplied, so edges blend into the background) and alpha."""
        rgb = np.asarray(self.img.convert("RGB").reduce(SUPERSAMPLE))
        return rgb, np.asarray(self.img.getchannel("A").reduce(SUPERSAMPLE), np.float32) / 255


def render(keypoints: np.ndarray, appearance: Appearance, size: int = 256, background=(1.0, 1.0, 1.0)
           ) -> tuple[np.ndarray, np.ndarray]:
    """(17, 3) canvas keypoints (x, y, score) -> (uint8 size x size x 3 image on `background`, float32 alpha mask)."""
    b = Figure(np.asarray(keypoints, np.float32), size)
    a = appearance
    pen = _Pen(size, background, (1.0 + 1.6 * a.outline) * size / 256)
    if b.head is not None and not b.back:
        pen.part(*_back_hair(b, a))
    _arm(pen, b, a, b.far)
    _leg(pen, b, a, b.far, with_pelvis=False)
    _leg(pen, b, a, b.near, with_pelvis=True)
    _torso(pen, b, a)
    if b.head is not None:
        _head(pen, b, a)
    _arm(pen, b, a, b.near)
    return pen.result()


def _arm(pen: _Pen, b: Figure, a: Appearance, side: str) -> None:
    """Sleeve on the upper arm, then a bare forearm and hand."""
    s, e, w = ARMS[side]
    u, xy = b.u, b.xy
    limbs, hand = [], []
    if b.seg(s, e):
        limbs.append(_limb(xy[s], xy[e], 0.38 * u, 0.3 * u, a.top))
        if b.seg(e, w):
            limbs.append(_limb(xy[e], xy[w], 0.26 * u, 0.2 * u, a.skin))
            hand = [(_ellipse(b.hand(side), 0.27 * u, 0.27 * u, 12), a.skin)]
    pen.part([fill for fill, _ in limbs] + hand, [shadow for _, shadow in limbs])


def _leg(pen: _Pen, b: Figure, a: Appearance, side: str, with_pelvis: bool) -> None:
    """Thigh and shin (bare below the knee unless long trousers), the pelvis with the near leg, then the shoe."""
    h, k, f = LEGS[side]
    u, xy = b.u, b.xy
    pelvis, limbs = [], []
    if with_pelvis and b.seg(11, 12):
        across = _unit(xy[12] - xy[11])
        pelvis = [(np.stack([xy[11] - across * 0.4 * u + b.up * 0.5 * u, xy[12] + across * 0.4 * u + b.up * 0.5 * u,
                             xy[12] + across * 0.42 * u - b.up * 0.2 * u, (xy[11] + xy[12]) / 2 - b.up * 0.55 * u,
                             xy[11] - across * 0.42 * u - b.up * 0.2 * u]), a.bottom)]
    if b.seg(h, k):
        limbs.append(_limb(xy[h], xy[k], 0.52 * u, 0.38 * u, a.bottom))
        if b.seg(k, f):
            limbs.append(_limb(xy[k], xy[f], 0.37 * u, 0.26 * u, a.bottom if a.long_trousers else a.skin))
    pen.part(pelvis + [fill for fill, _ in limbs], [shadow for _, shadow in limbs])
    if b.seg(k, f):
        toe = b.toe(side)
        pen.part([(_ellipse(toe, 0.38 * u, 0.25 * u, 14), a.shoes)],
                 [(_ellipse(toe + (0.12 * u, 0.08 * u), 0.24 * u, 0.15 * u, 10), shade(a.shoes))])


def _torso(pen: _Pen, b: Figure, a: Appearance) -> None:
    if not b.seg(5, 6):
        return
    xy, u = b.xy, b.u
    across = _unit(xy[5] - xy[6])  # image-right for a person facing the camera
    if b.seg(11, 12):
        hips = [xy[11] + 0.05 * (xy[5] - xy[11]), xy[12] + 0.05 * (xy[6] - xy[12])]
    else:  # hips out of frame: the torso runs on below the shoulders rather than ending in mid-air
        hips = [xy[5] + 2.6 * u * np.array([0, 1.0]), xy[6] + 2.6 * u * np.array([0, 1.0])]
    sides = []
    for sh, hip, sign in ((xy[5], hips[0], 1), (xy[6], hips[1], -1)):
        top, bottom = sh + sign * across * 0.3 * u + b.up * 0.12 * u, hip + sign * across * 0.4 * u
        sides.append(np.stack([top, 0.4 * top + 0.6 * bottom - sign * across * 0.12 * u, bottom]))
    neck = (xy[5] + xy[6]) / 2
    pen.part([(_capsule(neck, neck + b.up * 1.2 * u, 0.2 * u, 0.2 * u), a.skin)],
             [(_capsule(neck, neck + b.up * 0.9 * u, 0.2 * u, 0.2 * u), shade(a.skin, 0.82))])
    body = np.concatenate([sides[0][:1], [neck + b.up * 0.3 * u], sides[1], sides[0][:0:-1]])
    lit, shaded = sorted(sides, key=lambda side: side[:, 0].mean())  # the image-right side gets the shadow
    shadow = np.concatenate([shaded, (shaded + 0.3 * (lit - shaded))[::-1]])
    collar = _ellipse(neck + b.up * 0.15 * u, 0.28 * u, 0.14 * u, 12)
    pen.part([(body, a.top)], [(shadow, shade(a.top)), (collar, shade(a.skin, 0.82))])


def _head_frame(b: Figure):
    """Head units (x across the face, y down it) -> canvas points."""
    frame = b.head_frame()
    return lambda pts: head_points(frame, pts)


def _back_hair(b: Figure, a: Appearance) -> tuple[list, list]:
    """Hair that hangs behind the head (and, seen from behind, over it): long, bob or a ponytail; (fills, shadows)."""
    hair = back_hair(b, a.hair_style)
    if hair is None:
        return [], []
    f, (shape, shift) = _head_frame(b), hair
    if not b.back:
        return [(f(shape), shade(a.hair, 0.85))], []  # behind the head: in its shadow
    lit_edge = shift + (0.12 if a.hair_style == "ponytail" else 0.45)
    return [(f(shape), a.hair)], [(f(np.c_[np.maximum(shape[:, 0], lit_edge), shape[:, 1]]), shade(a.hair))]


def _head(pen: _Pen, b: Figure, a: Appearance) -> None:
    f, yaw = _head_frame(b), b.yaw
    light, dark = tuple(np.clip(np.asarray(a.hair) * 1.25 + 0.18, 0, 1)), shade(a.hair)
    ring = np.concatenate([arc(0.92, 205, 255, 6), arc(0.8, 255, 205, 6)])
    face = skull(yaw)
    if b.back:
        pen.part([(f(face), a.skin)], [(f(face[13:]), shade(a.skin, 0.85))])
        pen.part([(f(nape()), a.hair)], [(f(arc(1.08, 300, 375, 8)), dark), (f(ring), light)])
        pen.part(*_back_hair(b, a))
        return
    cheek = [(0.99, 0.1), (0.97, 0.4), (0.68 + 0.2 * yaw, 0.86), (0.5 + 0.2 * yaw, 0.92), (0.8, 0.45), (0.84, 0.1)]
    blush = tuple(0.65 * np.asarray(a.skin) + 0.35 * np.array([1.0, 0.45, 0.5]))
    eyes = b.eyes()
    mouth = _ellipse(np.array([yaw * 0.5, 0.8]), 0.08, 0.04, 8)
    pen.part([(f(face), a.skin)], [(f(cheek), shade(a.skin, 0.85)), (f(mouth), (0.6, 0.22, 0.25)),
                                    *[(f(_ellipse(np.array([x, 0.68]), 0.14 * w, 0.05, 10)), blush) for x, w in eyes]])
    iris = tuple(np.clip(np.asarray(a.hair) * 0.9 + 0.08, 0, 1))
    for x, w in eyes:
        c, rx, look = np.array([x, 0.36]), 0.2 * w, np.array([0.05 * yaw, 0.03])
        lash = np.concatenate([arc(1.0, 185, 355, 9), arc(1.28, 350, 190, 9)]) * (rx, 0.3) + c
        pen.part([(f(_ellipse(c, rx, 0.3, 16)), (1.0, 1.0, 1.0))],
                 [(f(_ellipse(c + look, 0.8 * rx, 0.26, 14)), iris),
                  (f(_ellipse(c + look + (0, 0.1), 0.65 * rx, 0.14, 10)), shade(iris, 0.6)),
                  (f(_ellipse(c + look, 0.35 * rx, 0.11, 10)), shade(iris, 0.3)),
                  (f(_ellipse(c + look + (-0.3 * rx, -0.1), 0.07, 0.07, 8)), (1.0, 1.0, 1.0)),
                  (f(lash), tuple(np.asarray(a.hair) * 0.25))])
    cap, shadow = hair_cap(a.hair_style, yaw)
    pen.part([(f(cap), a.hair)], [(f(shadow), dark), (f(ring), light)])


def random_appearance(rng: np.random.Generator) -> Appearance:
    """A plausible, varied character: real skin tones, natural or anime hair, clothes from muted to vivid."""
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))]
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]

    def jitter(c) -> tuple:
        return tuple(float(x) for x in np.clip(np.asarray(c) + rng.uniform(-0.04, 0.04, 3), 0, 1))

    def cloth() -> tuple:
        sat = rng.uniform(0, 0.3) if rng.random() < 0.5 else rng.uniform(0.4, 0.9)
        return colorsys.hsv_to_rgb(rng.random(), sat, rng.uniform(0.15, 0.98))

    bottom = DENIM[rng.integers(len(DENIM))] if rng.random() < 0.4 else cloth()
    shoes = SHOE_COLOURS[rng.integers(len(SHOE_COLOURS))] if rng.random() < 0.5 else cloth()
    return Appearance(skin=jitter(skin), hair=jitter(hair), top=jitter(cloth()), bottom=jitter(bottom),
                      shoes=jitter(shoes), hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
                      long_trousers=bool(rng.random() < 0.6), outline=float(rng.uniform(0, 1)))
