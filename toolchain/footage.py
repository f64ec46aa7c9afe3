"""Real footage taken out of registry packages, pinned and cached like the teachers: nobody here filmed it."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .teachers import Asset, Package, cache_root, fetch_assets

SPORTS2D = Package("pypi", "sports2d", "0.8.34", "BSD-3-Clause")
POSE2SIM = Package("pypi", "pose2sim", "0.10.49", "BSD-3-Clause")
OPENCV_DOC = Package("debian", "opencv-doc", "4.6.0+dfsg-12", "Apache-2.0")
SPORTS2D_DEMO = Asset(SPORTS2D, "Sports2D/Demo/demo.mp4", "d9a66417185647b112304b57093f0c180f37a768e6a14daca75ca541f3b78039")
_P2S = "Pose2Sim/Demo_{}/videos/cam0{}.mp4"
_P2S_SHA = {
    ("MultiPerson", 1): "543cee6a4c2c2b52dc9eac9137ee63d14f1f84e706a9a7264769edcb11e5ea53",
    ("MultiPerson", 2): "8895092a7cf26359205a427b7ac2f4a935c2e0bd36d9b7a5140cb33faa468a6b",
    ("MultiPerson", 3): "d3daf48cdf9f5603868ddb99166ddaf9b12279e7ce968922926560d5fd3f0c99",
    ("MultiPerson", 4): "1490149dc40e7301fa5ceae23862b044ba5c398a8b2a40df21ed894702728c09",
    ("SinglePerson", 1): "cf4f2816c86bea4bfbea255333d8626ff32a3ecabdab8b0fb147cea9167fde3a",
    ("SinglePerson", 2): "94ff87cf978b8406e8aa36ab3c5362e72848994e87652f0dc7a33c315e8e0442",
    ("SinglePerson", 3): "b8b329f832f178f27ecb78d024d5026b96c6adb36c387bfe2c0af85eab8a11ca",
    ("SinglePerson", 4): "b5c0e7863fd70d008e7178d3c556b045b0ea5f78fcd61ca548a0b2e807e641f7",
}
_OCV = "./usr/share/doc/opencv-doc/examples/data/"

# name -> pinned file. Pose2Sim: portrait 1088x1920 phone-like clips of a lab, 4 cameras, 1 or 2-4 people.
FOOTAGE: dict[str, Asset] = {
    "sports2d-demo": SPORTS2D_DEMO,
    **{f"pose2sim-{kind[:-6].lower()}-cam0{cam}": Asset(POSE2SIM, _P2S.format(kind, cam), sha)
       for (kind, cam), sha in _P2S_SHA.items()},
    "opencv-vtest": Asset(OPENCV_DOC, _OCV + "vtest.avi", "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"),
    "opencv-messi5": Asset(OPENCV_DOC, _OCV + "messi5.jpg", "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9"),
    "opencv-basketball1": Asset(OPENCV_DOC, _OCV + "basketball1.png", "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6"),
    "opencv-basketball2": Asset(OPENCV_DOC, _OCV + "basketball2.png", "b3047772e0dc6c9d83c26f64894ca1a897f799f855c5574ac24b2ef934c2978e"),
}
# The pose student's splits (every other built-in item is "train"). test: a whole scene never trained on, Pose2Sim's
# multi-person lab from all four cameras (2-4 people, overlapping, at the frame's edges), reported once. val: a camera
# viewpoint of the single-person lab, where sizes, thresholds and checkpoints are chosen.
SPLITS = {"pose2sim-single-cam02": "val", **{f"pose2sim-multi-cam0{c}": "test" for c in range(1, 5)}}
# Camera 2 of both clips: what calibration and the generator (which only sees poses) never saw, as before the splits.
CAMERA_2 = ("pose2sim-single-cam02", "pose2sim-multi-cam02")
# What export calibrates on by default: PyPI clips without camera 2, so a fresh machine needs no apt lists.
CALIBRATION_CLIPS = [n for n, a in FOOTAGE.items() if a.package.registry == "pypi" and n not in CAMERA_2]


def fetch_footage(names: list[str] | None = None) -> dict[str, Path]:
    """Cached paths of the named built-in clips and images (all of them by default), checked against their sha256."""
    names = list(FOOTAGE) if names is None else names
    assets = {n: FOOTAGE[n] for n in names}
    paths: dict[str, Path] = {}
    for pkg in dict.fromkeys(a.package for a in assets.values()):
        mine = {n: a for n, a in assets.items() if a.package == pkg}
        got = fetch_assets(mine, cache_root() / "footage" / pkg.name)
        paths.update(got)
    return {n: paths[n] for n in names}


def fetch_sports2d_demo() -> Path:
    """Sports2D's demo clip (1768x994, 30 fps, 230 frames): two people, one far away, in a park (BSD-3-Clause)."""
    return fetch_footage(["sports2d-demo"])["sports2d-demo"]


def frames(path: Path, every: int = 1, limit: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB uint8 frame) of a video, every n-th, streamed by the runtime's PyAV reader; images give one frame."""
    from animetool_runtime.video import Reader

    reader = Reader(path)
    try:
        kept = 0
        for i, frame in enumerate(reader.frames()):
            if i % every:
                continue
            yield i, frame
            kept += 1
            if limit is not None and kept >= limit:
                return
    finally:
        reader.close()


def read_frame(path: Path, index: int) -> np.ndarray:
    """Frame number index of a video as RGB uint8 HxWx3, decoded with PyAV."""
    for i, frame in frames(path):
        if i == index:
            return frame
    raise IndexError(f"{path}: no frame {index}")
