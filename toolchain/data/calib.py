"""Real calibration and reference inputs: a user's images or .npy arrays, or sample photos shipped by scikit-image."""
from __future__ import annotations

import importlib.resources
from dataclasses import replace
from pathlib import Path

import numpy as np

from animetool_runtime.blocks import Preprocess
from animetool_runtime.image import preprocess

from animetool.data.images import IMAGE_EXTS, InputError, read_rgb

# Colour photos inside the scikit-image wheel (skimage/data): real pictures with no download.
SAMPLE_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
                 "rocket.jpg", "retina.jpg", "ihc.png", "hubble_deep_field.jpg", "brick.png", "grass.png",
                 "gravel.png", "camera.png", "coins.png", "moon.png", "page.png"]


def sample_photo_paths() -> list[Path]:
    root = importlib.resources.files("skimage") / "data"
    return [Path(str(root / n)) for n in SAMPLE_PHOTOS]


def _crops(images: list[np.ndarray], count: int, seed: int) -> list[np.ndarray]:
    """count random crops (35-100% of the side) so a handful of photos gives varied activations."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        img = images[i % len(images)]
        h, w = img.shape[:2]
        s = rng.uniform(0.35, 1.0)
        ch, cw = max(8, int(h * s)), max(8, int(w * s))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        out.append(img[y:y + ch, x:x + cw])
    return out


def sample_inputs(input_shape: tuple[int, ...], pre: Preprocess, count: int, seed: int = 0) -> list[np.ndarray]:
    """Inputs made from the scikit-image sample photos (random crops), pre-processed as the model expects."""
    photos = [read_rgb(p) for p in sample_photo_paths()]
    return [_image_input(img, input_shape, pre) for img in _crops(photos, count, seed)]


def _image_input(rgb: np.ndarray, input_shape: tuple[int, ...], pre: Preprocess) -> np.ndarray:
    spec = replace(pre, size=tuple(input_shape[2:]))
    x = preprocess(rgb, spec)
    return x[:, :1] if input_shape[1] == 1 else x


def _npy(path: Path, input_shape: tuple[int, ...]) -> list[np.ndarray]:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise InputError(f"{path}: cannot read .npy ({e})") from None
    if tuple(arr.shape) == tuple(input_shape):
        return [arr.astype(np.float32)]
    if tuple(arr.shape[1:]) == tuple(input_shape[1:]):
        return [a[None].astype(np.float32) for a in arr]
    raise InputError(f"{path}: array shape {list(arr.shape)} does not fit input {list(input_shape)} (or N x {list(input_shape[1:])})")


def footage_inputs(input_shape: tuple[int, ...], pre: Preprocess, count: int) -> list[np.ndarray]:
    """Frames spread evenly over the built-in footage's training clips: people, as a pose model will see them."""
    from animetool.data.footage import CALIBRATION_CLIPS, fetch_footage, frames

    names = CALIBRATION_CLIPS
    paths = fetch_footage(names)
    clips = [n for n in names if paths[n].suffix.lower() not in IMAGE_EXTS]
    per = -(-count // len(clips))
    out = []
    for name in names:
        every = max(1, 100 // per)  # the clips are ~100-230 frames; an image gives its one frame
        out += [_image_input(rgb, input_shape, pre) for _, rgb in frames(paths[name], every, per)]
    rng = np.random.default_rng(0)
    return [out[i] for i in sorted(rng.permutation(len(out))[:count])]


def default_source(task: str, pre: Preprocess) -> str:
    """What load_inputs(None, ...) calibrates on, for the manifest."""
    if pre.kind == "tensor":
        return "standard normal samples, seed 0 (no --calib given; int8 needs real inputs)"
    if pre.kind == "conditioning":
        return "training-split poses of the built-in footage (BlazePose labels) with random appearances"
    return "built-in footage (training clips)" if task == "pose" else "scikit-image sample photos"


def load_inputs(path: Path | None, input_shape: tuple[int, ...], pre: Preprocess, count: int, seed: int = 0,
                task: str = "generic", calibrate: bool = True) -> list[np.ndarray]:
    """Up to count inputs from a folder of images/.npy, one image or one .npy; None means real defaults for the task.
    A tensor (not image) input has no real default: it needs .npy inputs to calibrate int8, while fp32 and fp16
    files (calibrate=False) are compared with PyTorch on standard normal samples."""
    if path is None:
        if pre.kind == "tensor" and not calibrate:
            rng = np.random.default_rng(seed)
            return [rng.standard_normal(input_shape).astype(np.float32) for _ in range(count)]
        if pre.kind == "conditioning":
            from animetool.data.avatar_data import conditioning_inputs

            return conditioning_inputs(input_shape, count)
        if pre.kind != "image":
            raise InputError(f"input {list(input_shape)} is not an image: int8 calibrates on real inputs, give --calib with .npy arrays of that shape (or N x {list(input_shape[1:])})")
        if task == "pose":
            return footage_inputs(input_shape, pre, count)
        return sample_inputs(input_shape, pre, count, seed)
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: calibration path not found")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    images = [f for f in files if f.suffix.lower() in IMAGE_EXTS]
    arrays = [a for f in files if f.suffix.lower() == ".npy" for a in _npy(f, input_shape)]
    if images and pre.kind != "image":
        raise InputError(f"{path}: images given but input {list(input_shape)} is not an image; use .npy inputs")
    out = arrays + [_image_input(read_rgb(f), input_shape, pre) for f in images[: max(0, count - len(arrays))]]
    if not out:
        raise InputError(f"{path}: no calibration images ({', '.join(sorted(IMAGE_EXTS))}) or .npy inputs found")
    return out[:count]
