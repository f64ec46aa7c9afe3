"""The anime generator's side of a person: pose fitted to its canvas, appearance, and the maps it is conditioned on.

Plain numpy, because the phone app mirrors it in JS and the generator sees exactly what this module computes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .blocks import Conditioning, Group
from .figure import VISIBLE, body_height, length
from .layout import COLOURS, FACE_MAPS, layout

RGB = Tuple[float, float, float]
SKELETON = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
            (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))  # COCO's 19 edges
HAIR_STYLES = ("short", "long", "ponytail", "bob", "spiky")


@dataclass(frozen=True)
class Appearance:
    """What the character looks like; colours are RGB in [0, 1], outline is 0 (thin) to 1 (thick)."""

    skin: RGB = (0.98, 0.85, 0.75)
    hair: RGB = (0.32, 0.22, 0.18)
    top: RGB = (0.85, 0.85, 0.88)
    bottom: RGB = (0.25, 0.30, 0.45)
    shoes: RGB = (0.30, 0.25, 0.22)
    hair_style: str = "short"
    long_trousers: bool = True
    outline: float = 0.5


APPEARANCE_FIELDS = tuple(f"{c}_{ch}" for c in COLOURS for ch in "rgb") + tuple(f"hair_{s}" for s in HAIR_STYLES) + (
    "long_trousers", "outline")
# The maps this runtime paints, described (the manifest's preprocess.conditioning block): a bundle's generator records
# the groups it learnt and their order, and conditioning() writes each group where that block puts it. The version is
# bumped whenever a map's meaning changes (4: the eyes painted in the hair's colour).
CONDITIONING = Conditioning(layout=4, groups=(
    Group("keypoints", 17), Group("limbs", len(SKELETON)), Group("colours", 3 * len(COLOURS)),
    Group("hair_style", len(HAIR_STYLES)), Group("long_trousers", 1), Group("outline", 1), Group("face", len(FACE_MAPS))))
CONDITIONING_CHANNELS = CONDITIONING.channels


def paints(block: Conditioning) -> str | None:
    """Why this runtime cannot build a generator's conditioning block (None when it can: the same version and the
    same groups, in any order)."""
    if block.layout != CONDITIONING.layout:
        return (f"it learnt conditioning layout {block.layout}, this runtime builds layout {CONDITIONING.layout}: "
                "export the generator again with this version")
    if block.groups and sorted(block.groups, key=lambda g: g.name) != sorted(CONDITIONING.groups, key=lambda g: g.name):
        return (f"its conditioning groups {', '.join(f'{g.name}:{g.channels}' for g in block.groups)} are not the ones "
                f"this runtime paints ({', '.join(f'{g.name}:{g.channels}' for g in CONDITIONING.groups)})")
    return None


def appearance_vector(a: Appearance) -> np.ndarray:
    """Appearance -> float32 vector laid out as APPEARANCE_FIELDS (hair style one-hot)."""
    style = [float(a.hair_style == s) for s in HAIR_STYLES]
    colours = [v for c in COLOURS for v in getattr(a, c)]
    return np.array(colours + style + [float(a.long_trousers), a.outline], np.float32)


def appearance_from_vector(v: np.ndarray) -> Appearance:
    """Inverse of appearance_vector; tolerant of soft values (argmax style, threshold 0.5, colours clipped)."""
    v = np.asarray(v, np.float64)
    rgb = np.clip(v[:15], 0, 1).reshape(5, 3)
    colours = {c: tuple(float(x) for x in rgb[i]) for i, c in enumerate(COLOURS)}
    return Appearance(**colours, hair_style=HAIR_STYLES[int(np.argmax(v[15:20]))], long_trousers=bool(v[20] > 0.5),
                      outline=float(np.clip(v[21], 0, 1)))


def fit_pose(keypoints: np.ndarray, size: int = 256, fill: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Person keypoints (17, 3) in image pixels -> (keypoints in a size x size canvas, 2x3 canvas->image matrix).

    Scale + translation only: the person's extent (the keypoints' box, padded by 8% of the height for the head top and
    feet), but at least the height its torso/limbs imply (stable while arms move, and a close-up upper body stays
    life-size), fills `fill` of the canvas, centred. Pixel centres are integers.
    """
    kps = np.asarray(keypoints, np.float32)
    seen = kps[:, 2] >= VISIBLE
    pts = kps[seen, :2] if seen.any() else kps[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    extent = max(float((hi - lo).max()), body_height(kps), 1.0) * 1.16
    s = fill * size / extent
    centre = (lo + hi) / 2
    out = kps.copy()
    out[:, :2] = (kps[:, :2] - centre) * s + (size - 1) / 2
    matrix = np.array([[1 / s, 0, centre[0] - (size - 1) / 2 / s], [0, 1 / s, centre[1] - (size - 1) / 2 / s]],
                      np.float32)
    return out, matrix


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB in [0, 1] -> CIE Lab (D65): a space where medians and distances mean what they look like."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]])
    xyz = xyz / np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """Inverse of srgb_to_lab, clipped to [0, 1]."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f > 0.206893, f ** 3, (f - 16 / 116) / 7.787) * np.array([0.9505, 1.0, 1.089])
    lin = xyz @ np.array([[3.2406, -0.9689, 0.0557], [-1.5372, 1.8758, -0.2040], [-0.4986, 0.0415, 1.0570]])
    lin = np.clip(lin, 0, 1)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)


def _grid(n: int) -> np.ndarray:
    """n x n sample positions in [0, 1]^2, flattened to (n*n, 2)."""
    t = (np.arange(n) + 0.5) / n
    return np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)


def _quad(corners: np.ndarray, n: int = 12) -> np.ndarray:
    """Points spread over a quadrilateral (4, 2) given in order, by bilinear interpolation of its corners."""
    u, v = _grid(n).T[:, :, None]
    return (1 - v) * ((1 - u) * corners[0] + u * corners[1]) + v * ((1 - u) * corners[3] + u * corners[2])


def _box(centre: np.ndarray, half_w: float, half_h: float, n: int = 12) -> np.ndarray:
    """Points over the axis-aligned rectangle around centre."""
    return _quad(centre + np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]]), n)


def _band(a: np.ndarray, b: np.ndarray, half_width: float, n: int = 10) -> np.ndarray:
    """Points over the rectangle around segment a->b (its middle 80%), half_width either side."""
    d = b - a
    normal = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-6) * half_width
    return _quad(np.stack([a + 0.1 * d - normal, a + 0.1 * d + normal, a + 0.9 * d + normal, a + 0.9 * d - normal]), n)


def robust_colour(frame: np.ndarray, points: np.ndarray, keep: float = 0.6) -> RGB | None:
    """Median colour (Lab) of the frame at points, recomputed over the `keep` fraction closest to the first median.

    None when fewer than 8 points fall inside the frame.
    """
    h, w = frame.shape[:2]
    xy = np.round(points).astype(np.int64)
    xy = xy[(xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)]
    if len(xy) < 8:
        return None
    lab = srgb_to_lab(frame[xy[:, 1], xy[:, 0]].astype(np.float64) / 255)
    dist = np.linalg.norm(lab - np.median(lab, 0), axis=1)
    lab = lab[dist <= np.quantile(dist, keep)]
    return tuple(float(c) for c in lab_to_srgb(np.median(lab, 0)))


def extract_appearance(frame: np.ndarray, keypoints: np.ndarray) -> Appearance:
    """A real person's colours (uint8 HxWx3 frame, (17, 3) keypoints in its pixels) inside the regions they outline.

    Skin is read on the face when it faces the camera, else on the forearms; a field whose region is missing keeps
    Appearance's default. Shorts: the shins nearer the skin's colour than the thighs'. Hair style is not estimated
    (silhouettes are too ambiguous): the default.
    """
    kps = np.asarray(keypoints, np.float32)
    ok = kps[:, 2] >= VISIBLE
    xy = kps[:, :2]
    head = [i for i in range(5) if ok[i]]
    face = max([length(kps, i, j) for i in range(5) for j in range(i + 1, 5)] + [0.0])
    facing_away = ok[5] and ok[6] and xy[5, 0] < xy[6, 0]  # the person's left shoulder on the image's left
    regions: dict[str, list[np.ndarray]] = {c: [] for c in COLOURS}
    front = [i for i in (0, 1, 2) if ok[i]]
    if front and face > 0 and not facing_away:
        regions["skin"].append(_box(xy[front].mean(0) + (0, 0.15 * face), 0.25 * face, 0.25 * face))
    if not regions["skin"]:
        regions["skin"] += [_band(xy[e], xy[w], 0.08 * length(kps, e, w)) for e, w in ((7, 9), (8, 10))
                            if length(kps, e, w) > 0]
    if head and face > 0:
        regions["hair"].append(_box(xy[head].mean(0) - (0, 0.65 * face), 0.35 * face, 0.2 * face))
    if ok[[5, 6, 11, 12]].all():
        corners = xy[[5, 6, 12, 11]]
        regions["top"].append(_quad(corners.mean(0) + 0.6 * (corners - corners.mean(0))))
    for hip, knee in ((11, 13), (12, 14)):
        if length(kps, hip, knee) > 0:
            regions["bottom"].append(_band(xy[hip], xy[knee], 0.15 * length(kps, hip, knee)))
    for knee, ankle in ((13, 15), (14, 16)):
        shin = length(kps, knee, ankle)
        if shin > 0:
            regions["shoes"].append(_box(xy[ankle] + 0.12 * (xy[ankle] - xy[knee]), 0.08 * shin, 0.06 * shin, 6))
    found = {c: robust_colour(frame, np.concatenate(p)) if p else None for c, p in regions.items()}
    shins = [_band(xy[k], xy[a], 0.1 * length(kps, k, a)) for k, a in ((13, 15), (14, 16)) if length(kps, k, a) > 0]
    shin = robust_colour(frame, np.concatenate(shins)) if shins else None
    bare = False  # shorts (or a skirt): the shins look like the skin, not like the thighs
    if shin is not None and found["skin"] is not None and found["bottom"] is not None:
        lab = srgb_to_lab(np.array([shin, found["skin"], found["bottom"]]))
        bare = bool(np.linalg.norm(lab[0] - lab[1]) < np.linalg.norm(lab[0] - lab[2]))
    return Appearance(**{c: v for c, v in found.items() if v is not None}, long_trousers=not bare)


def conditioning(canvas_keypoints: np.ndarray, appearance: Appearance, size: int = 256, with_box: bool = False,
                 block: Conditioning | None = CONDITIONING):
    """The generator's input, float32 (CONDITIONING_CHANNELS, size, size), in the groups of CONDITIONING, each at the
    channels `block` (the bundle's description; paints(block) must be None) gives it:

    17 keypoint Gaussians (sigma size/64, peak 1 at the keypoint); one soft line per SKELETON edge (the same Gaussian of
    the distance to the segment, zero beyond 4 sigma); the appearance in APPEARANCE_FIELDS order, each colour painted
    on the flat layout of the character (layout.py: where the renderer draws that colour, nearer parts hiding farther
    ones), hair style, trouser length and outline as constant maps; then the FACE_MAPS (eyes, mouth). Missing
    keypoints give zero maps and no parts.

    Each map is computed only where it is not (near) zero: a keypoint's Gaussian within 5 sigma (exp(-12.5) beyond),
    a limb's within 4 sigma of its segment (exp(-8)), the colours and face maps where the layout painted.
    with_box: also return the box (y0, y1, x0, x1) around all of that: outside it every map is exactly its constant
    (zero, or the appearance's), so Model.run(box=...) quantizes and moves only the inside, the person's part of a
    large canvas.
    """
    kps = np.asarray(canvas_keypoints, np.float32)
    ok = kps[:, 2] >= VISIBLE
    sigma = size / 64
    grid = np.arange(size, dtype=np.float32)
    gx = np.exp(-(grid[None] - kps[:, :1]) ** 2 / (2 * sigma ** 2)) * ok[:, None]
    gy = np.exp(-(grid[None] - kps[:, 1:2]) ** 2 / (2 * sigma ** 2))
    out = np.zeros((CONDITIONING_CHANNELS, size, size), np.float32)
    block = block if block is not None and block.groups else CONDITIONING  # a bundle that gives only the version
    at = {g.name: block.span(g.name)[0] for g in block.groups}
    reach = 4 * sigma  # exp(-8) beyond: every map is computed only in its segment's box, padded by 4 sigma
    windows = []  # every (y slice, x slice) a map is computed in
    for k in np.flatnonzero(ok):
        ys, xs = (slice(max(0, int(np.floor(v - 5 * sigma))), min(size, int(np.ceil(v + 5 * sigma)) + 1)) for v in kps[k, 1::-1])
        if ys.stop > ys.start and xs.stop > xs.start:
            np.multiply(gy[k, ys, None], gx[k, None, xs], out=out[at["keypoints"] + k, ys, xs])
            windows.append((ys, xs))
    edges = out[at["limbs"]:at["limbs"] + len(SKELETON)]
    for i, (a, b) in enumerate(SKELETON):
        if not (ok[a] and ok[b]):
            continue
        pa, d = kps[a, :2], kps[b, :2] - kps[a, :2]
        x0, y0 = (max(0, int(np.floor(min(pa[k], pa[k] + d[k]) - reach))) for k in (0, 1))
        x1, y1 = (min(size, int(np.ceil(max(pa[k], pa[k] + d[k]) + reach)) + 1) for k in (0, 1))
        if x1 <= x0 or y1 <= y0:
            continue
        windows.append((slice(y0, y1), slice(x0, x1)))
        px, py = grid[None, x0:x1] - pa[0], grid[y0:y1, None] - pa[1]
        t = np.clip((px * d[0] + py * d[1]) / max(float(d[0] ** 2 + d[1] ** 2), 1e-6), 0, 1)
        edges[i, y0:y1, x0:x1] = np.exp(-((px - t * d[0]) ** 2 + (py - t * d[1]) ** 2) / (2 * sigma ** 2))
    vec = appearance_vector(appearance)
    first = at["colours"]
    masks, face, painted = layout(kps, appearance, size)
    n = 3 * len(COLOURS)  # the constant maps: the rest of the appearance vector, in its order
    for name, values in (("hair_style", vec[n:n + len(HAIR_STYLES)]), ("long_trousers", vec[-2:-1]), ("outline", vec[-1:])):
        out[at[name]:at[name] + len(values)] = values[:, None, None]
    if painted:
        y0, y1, x0, x1 = _union(painted)
        ys, xs = slice(y0, y1), slice(x0, x1)
        for c, colour in enumerate(COLOURS):
            np.multiply(vec[3 * c:3 * c + 3, None, None], masks[colour][None, ys, xs], out=out[first + 3 * c:first + 3 * c + 3, ys, xs])
        out[at["face"]:at["face"] + len(FACE_MAPS), ys, xs] = face[:, ys, xs]
    return (out, _union(windows + painted)) if with_box else out


def _union(windows: list) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) around (y slice, x slice) windows; (0, 0, 0, 0) for none."""
    if not windows:
        return 0, 0, 0, 0
    return (min(y.start for y, _ in windows), max(y.stop for y, _ in windows),
            min(x.start for _, x in windows), max(x.stop for _, x in windows))
