"""Distil a pose teacher into the multi-person student: augmented real frames, the teacher's pseudo-labels as targets.

Targets follow CenterNet/MoveNet: a person-centre heatmap, 17 keypoint heatmaps (penalty-reduced focal loss), centre->
keypoint vectors and keypoint sub-cell offsets (L1). Coordinates use the convention of animetool_runtime.pose.multipose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from animetool_runtime.image import warp_affine

from animetool.data.poses import load_split
from animetool.models.coco import COCO_FLIP, COCO_SKELETON
from animetool.pose_metrics import VISIBLE
from animetool.train.loop import Trainer

MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


@dataclass
class Frame:
    image: np.ndarray  # uint8 HxWx3, long side <= LOAD_SIDE
    people: np.ndarray  # (P, 17, 3) in this image's pixels


LOAD_SIDE = 384


def load_frames(data: Path, split: str) -> list[Frame]:
    """Every frame of a split in memory at LOAD_SIDE (twice the input: zoom-in augmentation keeps its detail), but
    those where the teacher's left and right flip with the mirror image (it guessed: the student would learn a coin toss)."""
    out = []
    for _, path, people in load_split(data, split, lr_agreed=True):
        with Image.open(path) as im:
            s = min(1.0, LOAD_SIDE / max(im.size))
            im = im.convert("RGB").resize((round(im.width * s), round(im.height * s)), Image.BILINEAR, reducing_gap=2.0)
            out.append(Frame(np.asarray(im), people * np.array([s, s, 1], np.float32)))
    return out


def background_photos() -> list[Frame]:
    """Backgrounds for pasting: the scikit-image sample photos without people, at LOAD_SIDE."""
    from animetool.data.calib import sample_photo_paths
    from animetool.data.images import read_rgb

    out = []
    for p in sample_photo_paths():
        if p.name in ("astronaut.png", "camera.png"):  # an unlabelled person would teach the student to miss people
            continue
        im = Image.fromarray(read_rgb(p))
        s = min(1.0, LOAD_SIDE / max(im.size))
        out.append(Frame(np.asarray(im.resize((round(im.width * s), round(im.height * s)), Image.BILINEAR)),
                         np.zeros((0, 17, 3), np.float32)))
    return out


def augment(frame: Frame, size: int, rng: np.random.Generator, scale: float | None = None,
            centre: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Random zoom, rotation, shift, flip (with left/right swap) and colour: (HxWx3 float image, (P,17,3) keypoints).
    scale and centre (frame pixels that land mid-crop) replace the random zoom and shift when given."""
    h, w = frame.image.shape[:2]
    s = scale if scale is not None else min(size / h, size / w) * rng.uniform(0.8, 2.2)
    a = math.radians(rng.uniform(-30, 30)) if rng.random() < 0.6 else 0.0
    c = centre if centre is not None else (
        np.array([w - 1, h - 1], np.float32) / 2 + rng.uniform(-0.35, 0.35, 2) * np.array([w, h]) * max(0.0, 1 - size / (s * max(h, w))))
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], np.float32) * s
    fwd = np.eye(3, dtype=np.float32)
    fwd[:2, :2] = rot
    fwd[:2, 2] = (size - 1) / 2 - rot @ c
    flip = rng.random() < 0.5
    if flip:
        fwd = np.array([[-1, 0, size - 1], [0, 1, 0], [0, 0, 1]], np.float32) @ fwd
    img = warp_affine(frame.image, np.linalg.inv(fwd)[:2], size, size)
    kps = frame.people.copy()
    if len(kps):
        xy = np.concatenate([kps[..., :2], np.ones_like(kps[..., :1])], -1) @ fwd.T
        kps[..., :2] = xy[..., :2]
        if flip:
            kps = kps[:, COCO_FLIP]
    img = img * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30)  # contrast, brightness
    grey = img.mean(-1, keepdims=True)
    img = grey + (img - grey) * rng.uniform(0.5, 1.5)  # saturation
    return np.clip(img, 0, 255), kps


# The mask's limbs: COCO's, with the head tied to the shoulders (nose) and across (ears) so it fills in
MASK_LIMBS = [tuple(e) for e in COCO_SKELETON[:12]] + [(0, 5), (0, 6), (3, 4)]


def person_mask(kps: np.ndarray, size: int) -> np.ndarray:
    """Soft silhouette: capsules around each person's limbs and torso, as thick as the person is large."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    for person in kps:
        vis = person[:, 2] >= VISIBLE
        if vis.sum() < 3:
            continue
        extent = float(np.ptp(person[vis, :2], axis=0).max())
        radius = max(3.0, 0.09 * extent)
        for a, b in MASK_LIMBS:
            if not (vis[a] and vis[b]):
                continue
            p, q = person[a, :2], person[b, :2]
            d = q - p
            t = np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / max(float(d @ d), 1e-6), 0, 1)
            dist = np.hypot(xx - p[0] - t * d[0], yy - p[1] - t * d[1])
            np.maximum(mask, np.clip((radius * 1.6 - dist) / (radius * 0.6), 0, 1), out=mask)
    return mask


def paste(img: np.ndarray, kps: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The people of img over another picture (DESIGN: people pasted onto other backgrounds), so the student
    cannot lean on the few rooms of the training footage."""
    m = person_mask(kps, img.shape[0])[..., None]
    return img * m + background * (1 - m)


def add_people(img: np.ndarray, kps: np.ndarray, frames: list[Frame], rng: np.random.Generator,
               count: int) -> tuple[np.ndarray, np.ndarray]:
    """count people cut from other frames pasted over img at any size (15-90% of the crop's height) and place (over
    the crop's edge, over the people already there): the crowds, overlaps and people at the edge that three scenes do
    not show. A keypoint the pasted person covers is dropped from the people beneath (the picture no longer shows it)."""
    size = img.shape[0]
    donors = [f for f in frames if len(f.people)]
    for _ in range(count if donors else 0):
        f = donors[rng.integers(len(donors))]
        person = f.people[rng.integers(len(f.people))]
        vis = person[:, 2] >= VISIBLE
        if vis.sum() < 5:
            continue
        lo, hi = person[vis, :2].min(0), person[vis, :2].max(0)
        scale = rng.uniform(0.15, 0.9) * size / max(float((hi - lo).max()), 1.0)
        shift = rng.uniform(-0.6, 0.6, 2) * size / scale  # frame pixels: the person's centre lands anywhere, edges too
        pimg, pk = augment(Frame(f.image, person[None]), size, rng, scale=scale, centre=(lo + hi) / 2 + shift)
        m = person_mask(pk, size)
        if len(kps):
            xy = np.clip(np.round(kps[..., :2]).astype(int), 0, size - 1)
            covered = m[xy[..., 1], xy[..., 0]] > 0.5
            kps = kps.copy()
            kps[..., 2] = np.where(covered, 0.0, kps[..., 2])
        img = pimg * m[..., None] + img * (1 - m[..., None])
        kps = np.concatenate([kps, pk])
    return img, kps


def targets(kps: np.ndarray, size: int, stride: int) -> dict[str, np.ndarray]:
    """Dense training targets at size/stride for (P, 17, 3) keypoints in input pixels."""
    n = size // stride
    t = {"centers": np.zeros((1, n, n), np.float32), "heatmaps": np.zeros((17, n, n), np.float32),
         "regression": np.zeros((34, n, n), np.float32), "reg_mask": np.zeros((34, n, n), np.float32),
         "offsets": np.zeros((34, n, n), np.float32), "off_mask": np.zeros((34, n, n), np.float32)}
    g = np.arange(n, dtype=np.float32)
    for person in kps:
        q = (person[:, :2] + 0.5) / stride
        vis = (person[:, 2] >= VISIBLE) & (q >= 0).all(1) & (q < n).all(1)
        if vis.sum() < 3:
            continue
        lo, hi = q[vis].min(0), q[vis].max(0)
        extent = float(max(hi - lo))
        cx, cy = np.floor((lo + hi) / 2).astype(int)
        _splat(t["centers"][0], g, cx, cy, np.clip(extent / 8, 0.8, 4.0))
        sk = float(np.clip(extent / 20, 0.7, 2.5))
        for j in np.nonzero(vis)[0]:
            kx, ky = np.floor(q[j]).astype(int)
            _splat(t["heatmaps"][j], g, kx, ky, sk)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < n and 0 <= y < n:
                        t["regression"][2 * j:2 * j + 2, y, x] = q[j] - (np.array([x, y]) + 0.5)
                        t["reg_mask"][2 * j:2 * j + 2, y, x] = 1
                    x, y = kx + dx, ky + dy
                    if 0 <= x < n and 0 <= y < n:
                        t["offsets"][2 * j:2 * j + 2, y, x] = q[j] - np.array([x, y])
                        t["off_mask"][2 * j:2 * j + 2, y, x] = 1
    return t


def _splat(heat: np.ndarray, g: np.ndarray, cx: int, cy: int, sigma: float) -> None:
    """Gaussian peaked at exactly 1 on cell (cx, cy), merged by max (the focal loss counts cells equal to 1 as positives)."""
    gauss = np.exp(-((g[None, :] - cx) ** 2 + (g[:, None] - cy) ** 2) / (2 * sigma ** 2))
    np.maximum(heat, gauss, out=heat)


def batch(frames: list[Frame], size: int, stride: int, n: int, rng: np.random.Generator,
          backgrounds: list[Frame] = (), paste_p: float = 0.4, people_p: float = 0.5) -> dict[str, torch.Tensor]:
    images, ts = [], []
    for i in rng.integers(0, len(frames), n):
        img, kps = augment(frames[i], size, rng)
        if backgrounds and rng.random() < paste_p:
            img = paste(img, kps, augment(backgrounds[rng.integers(len(backgrounds))], size, rng)[0])
        if rng.random() < people_p:
            img, kps = add_people(img, kps, frames, rng, int(rng.integers(1, 4)))
        images.append(((img - MEAN) / STD).transpose(2, 0, 1))
        ts.append(targets(kps, size, stride))
    out = {k: torch.from_numpy(np.stack([t[k] for t in ts])) for k in ts[0]}
    out["image"] = torch.from_numpy(np.stack(images).astype(np.float32))
    return out


def focal(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of peaks."""
    pred = pred.clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred ** 2 * (1 - gt) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def masked_l1(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (torch.abs(pred - gt) * mask).sum() / mask.sum().clamp(min=1)


def losses(outputs: tuple[torch.Tensor, ...], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    centers, heatmaps, regression, offsets = outputs
    parts = {"centers": focal(centers, b["centers"]), "heatmaps": focal(heatmaps, b["heatmaps"]),
             "regression": 0.1 * masked_l1(regression, b["regression"], b["reg_mask"]),
             "offsets": masked_l1(offsets, b["offsets"], b["off_mask"])}
    parts["total"] = sum(parts.values())
    return parts


class PoseTrainer(Trainer):
    """The pose student on augmented real frames and the teacher's pseudo-labels."""

    def __init__(self, model: torch.nn.Module, frames: list[Frame], state: Path, steps: int, seed: int,
                 batch_size: int = 32, lr: float = 2e-3, size: int = 192, stride: int = 4,
                 backgrounds: list[Frame] = ()):
        super().__init__(model, state, steps, seed, lr)
        self.frames, self.batch_size, self.size, self.stride = frames, batch_size, size, stride
        self.backgrounds = backgrounds

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        b = batch(self.frames, self.size, self.stride, self.batch_size, rng, self.backgrounds)
        parts = losses(self.model(b["image"]), b)
        self.backward_step(parts["total"], self.opt, self.model.parameters())
        return {k: float(v.detach()) for k, v in parts.items()}
