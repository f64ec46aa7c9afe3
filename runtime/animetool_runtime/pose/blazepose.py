"""BlazePose (mediapipe's person detector + 33-landmark model) run with our runtime and numpy, for every person in a frame.

Constants and steps follow mediapipe 0.10.21's pose graphs (PoseDetectionCpu, PoseDetectionToRoi, PoseLandmarkByRoiCpu,
TensorsToPoseLandmarksAndSegmentation, as compiled into its wheel); each names the calculator it mirrors. Crops are
rounded to uint8 levels, as mediapipe's OpenCV warp gives them. Ours alone: tiling wide frames for the detector, and
one detection per body (SAME_BODY).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends import open_session
from ..image import warp_affine
from .track import iou

# BlazePose's 33 landmarks -> COCO-17 (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
BLAZEPOSE_TO_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
STRIDES = (8, 16, 32, 32, 32)  # SsdAnchorsCalculator: 5 layers; one aspect ratio + one interpolated scale per layer
NMS_IOU = 0.3                  # NonMaxSuppressionCalculator: WEIGHTED, INTERSECTION_OVER_UNION
ROI_SCALE = 1.25               # RectTransformationCalculator: scale 1.25, square_long
PRESENCE_THRESHOLD = 0.5       # ThresholdingCalculator on the landmark model's pose flag
HEATMAP_KERNEL = 7             # RefineLandmarksFromHeatmapCalculator
HEATMAP_MIN_CONFIDENCE = 0.5
# Ours, not mediapipe's: a second detection whose hip centre lies within this fraction of a stronger one's hip->scale-point
# distance is the same body seen again (e.g. flipped), which would yield a hallucinated duplicate pose.
SAME_BODY = 0.5


def ssd_anchors(size: int, strides: tuple[int, ...] = STRIDES) -> np.ndarray:
    """Anchor centres (N, 2) in input pixels; with fixed_anchor_size the scales (0.1484375..0.75) never reach the output."""
    centres, i = [], 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        cells = -(-size // strides[i])
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = (np.stack([xs, ys], -1).reshape(-1, 2) + 0.5) / cells
        centres.append(np.repeat(grid, 2 * (j - i), axis=0))
        i = j
    return (np.concatenate(centres) * size).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function without exp overflow warnings on large logits."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, threshold: float = NMS_IOU):
    """mediapipe's WEIGHTED NMS: each kept detection is the score-weighted mean of the boxes (and keypoints) it suppresses."""
    order = np.argsort(-scores, kind="stable")
    kept = []
    while order.size:
        group = iou(boxes[order[0]], boxes[order]) > threshold
        group[0] = True  # a degenerate box still suppresses itself
        members, w = order[group], scores[order[group]]
        w = w / w.sum()
        kept.append(((boxes[members] * w[:, None]).sum(0), (keypoints[members] * w[:, None, None]).sum(0), scores[order[0]]))
        order = order[~group]
    return kept


def detector_views(h: int, w: int, size: int, tile: bool) -> list[np.ndarray]:
    """2x3 matrices from detector-input pixels to image pixels: the whole frame letterboxed (mediapipe's only view) and,
    when tile is set and the frame is not square, squares of its short side along the long one. Letterboxing a 16:9
    frame shrinks people 1.8x and the detector misses the far ones (Sports2D demo: scores 0.35-0.49 vs 0.96 tiled)."""
    long, short = max(h, w), min(h, w)
    views = [((w - long) / 2, (h - long) / 2, long)]
    if tile and long > short:
        offsets = np.linspace(0, long - short, -(-long // short))
        views += [(o, 0.0, short) if w > h else (0.0, o, short) for o in offsets]
    return [np.array([[side / size, 0, x0], [0, side / size, y0]]) for x0, y0, side in views]


def affine_apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) points through a 2x3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def roi_matrix(hip: np.ndarray, scale_point: np.ndarray, size: int) -> np.ndarray:
    """PoseDetectionToRoi: a square centred on the hips, 2.5x the hip->scale-point distance, turned so the body points up;
    returns the 2x3 matrix from crop pixels to image pixels."""
    d = scale_point - hip
    side = 2.0 * np.hypot(*d) * ROI_SCALE
    angle = np.pi / 2 - np.arctan2(-d[1], d[0])
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]]) * (side / size)
    return np.hstack([rot, (hip - rot @ np.array([size / 2, size / 2]))[:, None]])


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, size: int) -> np.ndarray:
    """RefineLandmarksFromHeatmapCalculator: the sigmoid-weighted mean cell in a 7x7 window, where its peak is confident."""
    hm_h, hm_w, _ = heatmap.shape
    out = xy.copy()
    for k, (x, y) in enumerate(xy / size):
        col, row = int(x * hm_w), int(y * hm_h)
        if not (0 <= col < hm_w and 0 <= row < hm_h):
            continue
        r = (HEATMAP_KERNEL - 1) // 2
        r0, c0 = max(0, row - r), max(0, col - r)
        conf = sigmoid(heatmap[r0:row + r + 1, c0:col + r + 1, k])
        if conf.max() >= HEATMAP_MIN_CONFIDENCE:
            rows, cols = np.mgrid[r0:r0 + conf.shape[0], c0:c0 + conf.shape[1]]
            out[k] = [(cols * conf).sum() / conf.sum() / hm_w * size, (rows * conf).sum() / conf.sum() / hm_h * size]
    return out


class BlazePose:
    """Person detector -> one rotated 256x256 crop per detected person -> 33 landmarks -> COCO-17 in image pixels."""

    def __init__(self, detector_path: str | Path, landmark_path: str | Path, threads: int | None = None,
                 score_threshold: float = 0.5, tile: bool = True):
        if not 0 < score_threshold < 1:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        self.detector = open_session("litert", Path(detector_path), threads)
        self.landmarker = open_session("litert", Path(landmark_path), threads)
        self.det_size = self.detector.inputs[0].shape[1]
        self.lm_size = self.landmarker.inputs[0].shape[1]
        self.anchors = ssd_anchors(self.det_size)
        if len(self.anchors) != self.detector.outputs[0].shape[1]:
            raise ValueError(f"{detector_path}: {self.detector.outputs[0].shape[1]} boxes, expected {len(self.anchors)} anchors")
        shapes = [o.shape for o in self.landmarker.outputs]
        if len(shapes) != 5 or shapes[0][-1] != 39 * 5 or shapes[3][-1] != 39:
            raise ValueError(f"{landmark_path}: not a BlazePose landmark model (outputs {shapes})")
        self.score_threshold, self.tile = score_threshold, tile

    def detections(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """PoseDetectionCpu on every view (input in [-1, 1]), SSD decoding, weighted NMS over all views in image pixels,
        then one detection per body. Returns (4 keypoints in image pixels, score) per person: hip centre, full-body
        scale point, shoulder centre, upper-body scale point."""
        n = self.det_size
        boxes, keypoints, scores = [], [], []
        for view in detector_views(*rgb.shape[:2], n, self.tile):
            x = np.round(warp_affine(rgb, view, n, n, border="zero")) / 127.5 - 1.0
            raw, logits = self.detector.run([x[None].astype(np.float32)])
            score = sigmoid(np.clip(logits[0, :, 0], -100, 100))
            keep = score >= self.score_threshold
            raw, anchors = raw[0][keep], self.anchors[keep]
            centre, half = raw[:, :2] + anchors, raw[:, 2:4] / 2
            corners = np.stack([centre - half, centre + half], 1)
            points = (raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None]).reshape(-1, 2)
            boxes.append(affine_apply(view, corners.reshape(-1, 2)).reshape(-1, 4))
            keypoints.append(affine_apply(view, points).reshape(-1, 4, 2))
            scores.append(score[keep])
        people: list[tuple[np.ndarray, float]] = []
        for _, kp, score in weighted_nms(np.concatenate(boxes), np.concatenate(keypoints), np.concatenate(scores)):
            if all(np.hypot(*(kp[0] - k[0])) >= SAME_BODY * np.hypot(*(k[1] - k[0])) for k, _ in people):
                people.append((kp, float(score)))
        return people

    def landmarks(self, rgb: np.ndarray, hip: np.ndarray, scale_point: np.ndarray) -> tuple[np.ndarray, float, tuple]:
        """PoseLandmarkByRoiCpu: crop the ROI (edge pixels replicated) in [0, 1], run the model, refine, project back.
        Returns the 33 landmarks as (x, y, visibility) in image pixels, the pose-presence flag, and the person's
        segmentation (probabilities on the crop, and the crop -> image matrix) for segmentation_in()."""
        n = self.lm_size
        crop = roi_matrix(hip, scale_point, n)
        x = np.round(warp_affine(rgb, crop, n, n, border="replicate")) / 255.0
        raw, flag, seg, heatmap, _ = self.landmarker.run([x[None].astype(np.float32)])
        lm = raw[0].reshape(-1, 5)[:33]
        xy = refine_from_heatmap(lm[:, :2], heatmap[0][..., :33], n)
        return (np.column_stack([affine_apply(crop, xy), sigmoid(lm[:, 3])]).astype(np.float32), float(flag.ravel()[0]),
                (sigmoid(seg[0, ..., 0]), crop))

    def detect(self, rgb: np.ndarray) -> list[dict]:
        """Every person whose detection and pose flag pass: 'keypoints' (17, 3) COCO, 'landmarks' (33, 3), 'box', 'score'."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        people = []
        for kp, score in self.detections(rgb):
            lm, presence, segmentation = self.landmarks(rgb, kp[0], kp[1])
            if presence < PRESENCE_THRESHOLD:
                continue
            xy = np.clip(lm[:, :2], 0, [w - 1, h - 1])
            people.append({"keypoints": lm[BLAZEPOSE_TO_COCO], "landmarks": lm, "score": score, "presence": presence,
                           "box": np.concatenate([xy.min(0), xy.max(0)]).astype(np.float32), "segmentation": segmentation})
        return people

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """(people, 17, 3) float32: COCO keypoints as (x, y, visibility) in image pixels."""
        people = self.detect(rgb)
        return np.stack([p["keypoints"] for p in people]) if people else np.zeros((0, 17, 3), np.float32)


def segmentation_in(segmentation: tuple, height: int, width: int) -> np.ndarray:
    """A person's segmentation (from detect) as an HxW float32 probability map of the image: the crop's probabilities
    sampled back through the inverse of its matrix (0 outside the crop)."""
    probs, crop = segmentation
    to_crop = np.linalg.inv(np.vstack([np.asarray(crop, np.float64), [0, 0, 1]]))[:2]  # crop -> image, inverted
    return warp_affine(probs[..., None], to_crop, height, width)[..., 0]
