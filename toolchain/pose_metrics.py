"""Pose agreement with a reference (the teacher): COCO keypoint AP and mean OKS (pycocotools), PCK@0.2, and the ways
a pose model fails on footage it never saw: left/right mirrored people, people at the frame's edge and overlapping
people not found."""
from __future__ import annotations

import contextlib
import io

import numpy as np

from animetool_runtime.pose.track import SIGMAS, iou

from animetool.models.coco import COCO_FLIP

VISIBLE = 0.5  # a teacher's label counts from this score, in training and in scoring (the runtime draws from 0.3)
FOUND = 0.5  # a reference person counts as found when the prediction matched to it has at least this OKS
EDGE = 0.03  # a person is at the frame's edge when their keypoint box comes this close to it (share of the side)
OVERLAP = 0.1  # people overlap when their keypoint boxes' IoU exceeds this


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


def oks(g: np.ndarray, p: np.ndarray) -> float:
    """COCO's OKS of prediction p against reference g (as pycocotools: every keypoint of p counts), _coco's area."""
    vis = g[:, 2] >= VISIBLE
    _, _, w, h = _box(g)
    d2 = ((g[vis, :2] - p[vis, :2]) ** 2).sum(1)
    return float(np.exp(-d2 / (2 * max(1.0, w * h * 1.44) * (2 * SIGMAS[vis]) ** 2)).mean()) if vis.any() else 0.0


def _pck(g: np.ndarray, p: np.ndarray) -> tuple[int, int]:
    """Keypoints of g (visible ones) within 0.2 x torso diameter of p's; (hits, total)."""
    torso = max(np.linalg.norm(g[5, :2] - g[12, :2]), np.linalg.norm(g[6, :2] - g[11, :2]))
    if torso < 1:
        torso = max(_box(g)[2:]) / 2
    vis = g[:, 2] >= VISIBLE
    return int((np.linalg.norm(g[vis, :2] - p[vis, :2], axis=1) <= 0.2 * torso).sum()), int(vis.sum())


def evaluate(gt: list[np.ndarray], pred: list[np.ndarray], sizes: list[tuple[int, int]] | None = None) -> dict:
    """gt/pred: per frame (P, 17, 3); sizes: per frame (width, height), for the edge figures. People are matched
    greedily by OKS; an unmatched reference person scores 0. Besides AP, mean OKS and PCK@0.2: mirror_rate (matched
    people whose left/right-swapped prediction scores a higher OKS), overlap_recall (people whose box overlaps
    another's, found), edge_miss_rate (people at the frame's edge, not found), single/multi mean OKS (frames with one
    reference person / more)."""
    from pycocotools.cocoeval import COCOeval

    coco, det = _coco(gt, pred)
    result = {"frames": len(gt), "people": int(sum(len(g) for g in gt)), "detections": int(sum(len(p) for p in pred))}
    ev = None  # no prediction at all: nothing to match, every reference person scores 0
    if det is not None:
        ev = COCOeval(coco, det, "keypoints")
        ev.params.kpt_oks_sigmas = SIGMAS
        with contextlib.redirect_stdout(io.StringIO()):
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
    scores, hits, total = [], 0, 0
    mirrored, matched, single, multi = 0, 0, [], []
    overlap, edge = [], []  # found (bool) per overlapping / edge person
    for i, (g, p) in enumerate(zip(gt, pred)):
        boxes = [np.array([x, y, x + w, y + h]) for x, y, w, h in map(_box, g)]  # x0 y0 x1 y1, as iou takes them
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
            score = float(ious[r, j]) if r is not None else 0.0
            scores.append(score)
            (single if len(g) == 1 else multi).append(score)
            if any(float(iou(boxes[j], b)[0]) > OVERLAP for k, b in enumerate(boxes) if k != j):
                overlap.append(score >= FOUND)
            if sizes is not None:
                x0, y0, x1, y1 = boxes[j]
                W, H = sizes[i]
                if min(x0, y0, W - x1, H - y1) <= EDGE * max(W, H):
                    edge.append(score >= FOUND)
            if r is None:
                total += int(vis.sum())
                continue
            used.add(r)
            q = p[order[r]]
            if score > 0.1:  # a match, not a neighbour's leftovers
                matched += 1
                mirrored += oks(person, q[COCO_FLIP]) > oks(person, q)
            h, t = _pck(person, q)
            hits, total = hits + h, total + t
    mean = lambda v: float(np.mean(v)) if len(v) else None  # noqa: E731
    ap, ap50 = (float(ev.stats[0]), float(ev.stats[1])) if ev is not None else (0.0, 0.0)
    return {**result, "ap": ap, "ap50": ap50, "mean_oks": mean(scores) or 0.0,
            "pck@0.2": hits / total if total else 0.0, "single_mean_oks": mean(single), "multi_mean_oks": mean(multi),
            "mirror_rate": mirrored / matched if matched else None, "overlapping": len(overlap),
            "overlap_recall": mean(overlap), "at_edge": len(edge),
            "edge_miss_rate": (1 - mean(edge)) if edge else None}
