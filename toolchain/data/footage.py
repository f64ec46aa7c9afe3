"""Real footage taken out of registry packages, pinned and cached like the teachers: nobody here filmed it."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from animetool_runtime.bundle import cache_root

from animetool.data.packages import Asset, Package, fetch_assets

SPORTS2D = Package("pypi", "sports2d", "0.8.34", "BSD-3-Clause")
POSE2SIM = Package("pypi", "pose2sim", "0.10.49", "BSD-3-Clause")
OPENCV_DOC = Package("debian", "opencv-doc", "4.6.0+dfsg-12", "Apache-2.0")
ULTRALYTICS = Package("pypi", "ultralytics", "8.4.190", "AGPL-3.0")
LABELME = Package("debian", "labelme-examples", "5.1.1-1", "GPL-3+")
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
_LABELME = "./usr/share/doc/labelme-examples/examples/bbox_detection/data_annotated/"  # PASCAL VOC 2011 photos

_PEOPLE_FREE = {  # opencv-doc's sample pictures without people: animals, a cartoon, buildings, a city from the air, fruit
    "baboon.jpg": "1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f",
    "squirrel_cls.jpg": "20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b",
    "HappyFish.jpg": "ade5b67347d7f89b1539c93843f3f7178782a7e34eb1fe586f4a785c3e60a432",
    "butterfly.jpg": "34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8",
    "building.jpg": "742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07",
    "aero1.jpg": "d9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef",
    "fruits.jpg": "9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1",
    "home.jpg": "23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2",
}

# name -> pinned file. Pose2Sim: portrait 1088x1920 phone-like clips of a lab, 4 cameras, 1 or 2-4 people.
FOOTAGE: dict[str, Asset] = {
    "sports2d-demo": SPORTS2D_DEMO,
    **{f"pose2sim-{kind[:-6].lower()}-cam0{cam}": Asset(POSE2SIM, _P2S.format(kind, cam), sha)
       for (kind, cam), sha in _P2S_SHA.items()},
    "opencv-vtest": Asset(OPENCV_DOC, _OCV + "vtest.avi", "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"),
    "opencv-messi5": Asset(OPENCV_DOC, _OCV + "messi5.jpg", "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9"),
    "opencv-basketball1": Asset(OPENCV_DOC, _OCV + "basketball1.png", "ba06f6701f7260998b430c39b6557f775497e6ce7b1a74f0b7ea6af371bf54a6"),
    "opencv-basketball2": Asset(OPENCV_DOC, _OCV + "basketball2.png", "b3047772e0dc6c9d83c26f64894ca1a897f799f855c5574ac24b2ef934c2978e"),
    # Everyday photos of people (evaluation only): street, close-up, seated groups indoors
    "ultralytics-bus": Asset(ULTRALYTICS, "ultralytics/assets/bus.jpg", "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63"),
    "ultralytics-zidane": Asset(ULTRALYTICS, "ultralytics/assets/zidane.jpg", "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb"),
    "labelme-2011_000003": Asset(LABELME, _LABELME + "2011_000003.jpg", "94bc550055447e1fab3982571d7114eb4a02a868054f34cb15f95cadf3e48c9a"),
    "labelme-2011_000006": Asset(LABELME, _LABELME + "2011_000006.jpg", "a0d04eb84ed3cd07282d61833d219c11fd6d98f53dc0135d4b3c720b26cfb244"),
    # Photos without people (evaluation only)
    **{f"opencv-{n.split('.')[0].lower()}": Asset(OPENCV_DOC, _OCV + n, sha) for n, sha in _PEOPLE_FREE.items()},
}
# The pose student's splits (every other built-in item is "train"). test: a whole scene never trained on, Pose2Sim's
# multi-person lab from all four cameras (2-4 people, overlapping, at the frame's edges), reported once. val: a camera
# viewpoint of the single-person lab, where sizes, thresholds and checkpoints are chosen.
# photos / empty: everyday photos with and without people, evaluation only (not in the default data).
EVAL_ONLY = ("photos", "empty")
SPLITS = {"pose2sim-single-cam02": "val", **{f"pose2sim-multi-cam0{c}": "test" for c in range(1, 5)},
          **{n: "photos" for n in FOOTAGE if n.startswith(("ultralytics-", "labelme-"))},
          **{f"opencv-{n.split('.')[0].lower()}": "empty" for n in _PEOPLE_FREE}}
# Camera 2 of both clips: what calibration and the generator (which only sees poses) never saw, as before the splits.
CAMERA_2 = ("pose2sim-single-cam02", "pose2sim-multi-cam02")
# What export calibrates on by default: PyPI clips without camera 2, so a fresh machine needs no apt lists.
CALIBRATION_CLIPS = [n for n, a in FOOTAGE.items() if a.package.registry == "pypi" and n not in CAMERA_2
                     and SPLITS.get(n) not in EVAL_ONLY]


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
