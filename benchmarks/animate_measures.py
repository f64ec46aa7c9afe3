"""What a viewer of `animate --background original` sees, on a real clip (used by animate_bench.py):

- person pixels left visible: of each person's pixels (BlazePose full's own segmentation, an independent model, p > 0.5),
  the share neither a character (its alpha > 0.5) nor the fill (the removal mask > 0.5) covers;
- resemblance: CIE76 between the person's colours and their character's, both read by the same regions of
  character.extract_appearance (the person's on the frame at their detected pose, the character's on its drawing at its
  canvas pose), per part;
- a contact sheet of frames, input over output.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from animetool.data.teachers import BlazePoseTeacher
from animetool_runtime import load
from animetool_runtime.animate import Animator, composite
from animetool_runtime.character import COLOURS, Appearance, extract_appearance, fit_pose, srgb_to_lab
from animetool_runtime.plate import cells_to_pixels
from animetool_runtime.pose.blazepose import segmentation_in
from animetool_runtime.video import Reader

EVERY = 5  # frames measured (every frame is animated: the plate and the tracks need them all)
SHEET = (0.17, 0.43, 0.7, 0.96)  # contact sheet frames, as fractions of the clip
DEFAULT = Appearance()


def _colours(look) -> np.ndarray:
    return srgb_to_lab(np.array([getattr(look, c) for c in COLOURS]))


def measure(clip: Path, bundle: Path, size: int, sheet_path: Path) -> dict:
    reader = Reader(clip)
    animator = Animator(load(bundle, "tflite", "int8", 2), float(reader.fps), size=size)
    teacher = BlazePoseTeacher("full", threads=2).model
    visible, de, rows = [], {c: [] for c in COLOURS}, []
    sheet = {int(f * (reader.frames_hint or 100)) for f in SHEET}
    for i, rgb in enumerate(reader.frames()):
        drawings, remove, _ = animator(rgb)
        drawn = [t for t in animator.tracker.tracks if t.pose is not None and t.hits >= animator.tracker.confirm and t.last_seen == i]
        out = animator.compose(rgb.copy(), drawings, remove)
        if i in sheet:
            rows.append(np.concatenate([rgb, out], 0)[::4, ::4])
        if i % EVERY:
            continue
        h, w = rgb.shape[:2]
        covered = np.zeros((h, w, 3), np.uint8)
        for _, rgba, matrix in drawings:  # each character's coverage, placed as compose places it
            composite(covered, np.concatenate([np.ones_like(rgba[..., :3]), rgba[..., 3:]], -1), matrix)
        covered = (covered[..., 0] > 127) | (cells_to_pixels(animator.plate.mask, h, w) > 0.5)
        for person in teacher.detect(rgb):
            mask = segmentation_in(person["segmentation"], h, w) > 0.5
            if mask.sum() >= 200:
                visible.append(float(1 - covered[mask].mean()))
        for t in drawn:  # the character's colours against the person's, read the same way
            rgba, _ = animator.draw(t.pose, t.appearance)
            canvas, _ = fit_pose(t.pose, animator.size, animator.fill)
            picture = np.clip((rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])) * 255 + 0.5, 0, 255).astype(np.uint8)
            theirs, ours = extract_appearance(rgb, t.raw), extract_appearance(picture, canvas)
            for k, c in enumerate(COLOURS):  # a part either side could not read keeps the default: not measured
                if getattr(DEFAULT, c) not in (getattr(theirs, c), getattr(ours, c)):
                    de[c].append(float(np.linalg.norm(_colours(theirs)[k] - _colours(ours)[k])))
    reader.close()
    if rows:
        Image.fromarray(np.concatenate(rows, 1)).save(sheet_path)
    parts = {c: round(float(np.mean(v)), 1) for c, v in de.items() if v}
    return {"person_pixels_visible_pct": round(100 * float(np.mean(visible)), 1) if visible else None,
            "people_measured": len(visible), "colour_de": parts,
            "colour_de_clothes": round(float(np.mean([parts[c] for c in ("top", "bottom") if c in parts])), 1) if parts else None,
            "contact_sheet": sheet_path.name}
