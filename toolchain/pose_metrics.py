"""Pose agreement with a reference (the teacher): COCO keypoint AP and mean OKS (pycocotools), PCK@0.2."""
from __future__ import annotations

import contextlib
import io

import numpy as np

from animetool_runtime.pose.track import SIGMAS

VISIBLE = 0.5  # a teacher's label counts from this score, in training and in scoring (the runtime draws from 0.3)


def _box(kps: np.ndarray) -> tuple[float, float, float, float]:
    pts = kps[kps[:, 2] >= VISIBLE, :2]
    pts = pts if len(pts) else kps[:, :2]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def _coco(gt: list[np.ndarray], pred: list[np.ndarray]):
    from pycocotools.coco import COCO

    images, anns, dets = [], [], []
    for i, (g, p) in enumerate(zip(gt, pred)):
        images.append({"id": i})
        for person in g:
            vis = person[:, 2] >= VISIBLE
            x, y, w, h = _box(person)
            flat = np.concatenate([person[:, :2], 2.0 * vis[:, None]], 1).ravel().tolist()
            # COCO's area is the segment area; without masks, the keypoint box enlarged by 1.2 on each side stands in
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "keypoints": flat,
                         "num_keypoints": int(vis.sum()), "bbox": [x, y, w, h], "area": max(1.0, w * h * 1.44), "iscrowd": 0})
        for person in p:
            dets.append({"image_id": i, "category_id": 1, "keypoints": np.concatenate(
                [person[:, :2], np.ones((17, 1))], 1).ravel().tolist(), "score": float(person[:, 2].mean())})
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        det = coco.loadRes(dets) if dets else None
    return coco, det


def _pck(g: np.ndarray, p: np.ndarray) -> tuple[int, int]:
    """Keypoints of g (visible ones) within 0.2 x torso diameter of p's; (hits, total)."""
    torso = max(np.linalg.norm(g[5, :2] - g[12, :2]), np.linalg.norm(g[6, :2] - g[11, :2]))
    if torso < 1:
        torso = max(_box(g)[2:]) / 2
    vis = g[:, 2] >= VISIBLE
    return int((np.linalg.norm(g[vis, :2] - p[vis, :2], axis=1) <= 0.2 * torso).sum()), int(vis.sum())


def evaluate(gt: list[np.ndarray], pred: list[np.ndarray]) -> dict:
    """gt/pred: per frame (P, 17, 3). People are matched greedily by OKS; an unmatched reference person scores 0."""
    from pycocotools.cocoeval import COCOeval

    coco, det = _coco(gt, pred)
    result = {"frames": len(gt), "people": int(sum(len(g) for g in gt)), "detections": int(sum(len(p) for p in pred))}
    if det is None:
        return {**result, "ap": 0.0, "ap50": 0.0, "mean_oks": 0.0, "pck@0.2": 0.0}
    ev = COCOeval(coco, det, "keypoints")
    ev.params.kpt_oks_sigmas = SIGMAS
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    oks, hits, total = [], 0, 0
    for i, (g, p) in enumerate(zip(gt, pred)):
        # computeOks: rows are detections by descending score (stable), columns the reference people in order
        ious = np.asarray(ev.computeOks(i, 1)) if len(p) else np.zeros((0, len(g)))
        order = np.argsort(-p[:, :, 2].mean(1), kind="mergesort") if len(p) else []
        used: set[int] = set()
        for j, person in enumerate(g):
            vis = person[:, 2] >= VISIBLE
            if not vis.any():
                continue
            free = [r for r in range(ious.shape[0]) if r not in used]
            r = max(free, key=lambda r: ious[r, j]) if free else None
            oks.append(float(ious[r, j]) if r is not None else 0.0)
            if r is None:
                total += int(vis.sum())
                continue
            used.add(r)
            h, t = _pck(person, p[order[r]])
            hits, total = hits + h, total + t
    return {**result, "ap": float(ev.stats[0]), "ap50": float(ev.stats[1]), "mean_oks": float(np.mean(oks)) if oks else 0.0,
            "pck@0.2": hits / total if total else 0.0}
