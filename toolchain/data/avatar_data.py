"""Pose -> anime pairs for the generator: real poses (the pose teacher's labels), augmented, fitted to the canvas,
drawn by the avatar renderer with random appearances. Made on the fly: a render takes a few milliseconds."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from animetool_runtime.character import VISIBLE, conditioning, fit_pose

from animetool.data.avatar import random_appearance, render
from animetool.data.poses import load_split
from animetool.models.coco import COCO_FLIP

MIN_VISIBLE = 8
# (joint, the keypoints that swing with it): elbows, wrists, knees, ankles bend within joint limits
JOINTS = [(5, (7, 9)), (6, (8, 10)), (7, (9,)), (8, (10,)), (11, (13, 15)), (12, (14, 16)), (13, (15,)), (14, (16,))]


def load_poses(data: Path, split: str | None) -> np.ndarray:
    """Every person with at least MIN_VISIBLE keypoints in a split of a pose data folder: (N, 17, 3) in frame pixels."""
    people = [p for _, _, frame in load_split(data, split) for p in frame if (p[:, 2] >= VISIBLE).sum() >= MIN_VISIBLE]
    return np.asarray(people, np.float32)


def jitter(kps: np.ndarray, rng: np.random.Generator, degrees: float = 20.0) -> np.ndarray:
    """Mirror (with left/right swap) half the time, and swing each limb joint by up to `degrees`."""
    kps = kps.copy()
    if rng.random() < 0.5:
        kps[:, 0] = -kps[:, 0]
        kps = kps[COCO_FLIP]
    for joint, moving in JOINTS:
        a = math.radians(rng.uniform(-degrees, degrees))
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], np.float32)
        idx = list(moving)
        kps[idx, :2] = (kps[idx, :2] - kps[joint, :2]) @ rot.T + kps[joint, :2]
    return kps


def pair(kps: np.ndarray, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(conditioning (C, size, size), target RGBA (4, size, size) in [0, 1]) for one pose."""
    canvas, _ = fit_pose(kps, size)
    look = random_appearance(rng)
    rgb, alpha = render(canvas, look, size)
    target = np.concatenate([rgb.transpose(2, 0, 1) / np.float32(255), alpha[None]], 0).astype(np.float32)
    return conditioning(canvas, look, size), target


def batch(poses: np.ndarray, size: int, n: int, rng: np.random.Generator, augment: bool = True):
    import torch

    conds, targets = zip(*(pair(jitter(poses[i], rng) if augment else poses[i], rng, size)
                           for i in rng.integers(0, len(poses), n)))
    return torch.from_numpy(np.stack(conds)), torch.from_numpy(np.stack(targets))


def calibration_poses() -> np.ndarray:
    """Poses of the calibration clips, labelled by the pose teacher once and cached."""
    from animetool.data.poses import build
    from animetool.data.footage import CALIBRATION_CLIPS
    from animetool.data.teachers import cache_root

    data = cache_root() / "posedata-calibration-v2"
    if not (data / "index.json").exists():
        build(CALIBRATION_CLIPS, "blazepose", data, every=5)
    return load_poses(data, None)  # the folder holds only CALIBRATION_CLIPS, whatever split each had when labelled


def conditioning_inputs(input_shape: tuple[int, ...], count: int) -> list[np.ndarray]:
    """Calibration inputs for a generator: training-split poses with random appearances, as the app will feed it."""
    poses = calibration_poses()
    rng = np.random.default_rng(0)
    return [pair(poses[i], rng, input_shape[-1])[0][None] for i in rng.integers(0, len(poses), count)]

