"""Pose student: decoding, the train/runtime coordinate convention, distillation on real frames, int8 TFLite on a real frame."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from animetool_runtime.blocks import Preprocess
from animetool_runtime.image import preprocess, to_image_coords
from animetool_runtime.pose import multipose
from animetool_runtime.pose.decode import decode_heatmaps


def _people(rng: np.random.Generator, n: int) -> np.ndarray:
    """n people as 17 keypoints scattered in separate thirds of a 192 px input, all visible."""
    out = []
    for i in range(n):
        cx = 32 + 64 * i
        out.append(np.concatenate([rng.uniform([cx - 25, 30], [cx + 25, 170], (17, 2)), np.ones((17, 1))], 1))
    return np.asarray(out, np.float32)


def test_heatmap_argmax_decode_finds_known_peaks():
    hm = np.zeros((1, 17, 48, 48), np.float32)
    ys, xs = np.arange(17) + 5, 47 - 2 * np.arange(17)
    hm[0, np.arange(17), ys, xs] = 1.0
    kps = decode_heatmaps(hm, stride=4)
    assert np.allclose(kps[:, 0], xs * 4 + 1.5) and np.allclose(kps[:, 1], ys * 4 + 1.5)
    assert np.allclose(kps[:, 2], 1.0)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_training_targets_decode_back_to_the_keypoints(n):
    """Targets built by the trainer, read as if the network had predicted them, give the keypoints back (< 0.5 px)."""
    from animetool.train.pose import targets

    people = _people(np.random.default_rng(n), n)
    t = targets(people, size=192, stride=4)
    found = multipose.decode(t["centers"][None], t["heatmaps"][None], t["regression"][None], t["offsets"][None],
                             stride=4, center_threshold=0.5, max_people=6)
    assert len(found) == n
    for person in people:
        err = np.abs(found[:, :, :2] - person[None, :, :2]).max(axis=(1, 2))
        assert err.min() < 0.5


def test_multipose_decode_nothing_below_threshold():
    z = np.zeros((1, 1, 48, 48), np.float32)
    out = multipose.decode(z, np.zeros((1, 17, 48, 48), np.float32), np.zeros((1, 34, 48, 48), np.float32),
                           np.zeros((1, 34, 48, 48), np.float32), stride=4)
    assert out.shape == (0, 17, 3)


@pytest.mark.parametrize("h,w", [(1920, 1088), (994, 1768), (192, 192)])
def test_letterbox_coordinates_round_trip(h, w):
    """A bright dot in a frame lands where input_transform says, and to_image_coords maps it back."""
    spec = Preprocess(size=(192, 192), resize="letterbox")
    frame = np.zeros((h, w, 3), np.uint8)
    y, x = int(h * 0.3), int(w * 0.7)
    r = max(h, w) // 64
    frame[y - r:y + r + 1, x - r:x + r + 1] = 255
    inp = preprocess(frame, spec)[0, 0]
    vs, us = np.nonzero(inp > 0.5 * inp.max())
    back = to_image_coords(np.array([[us.mean(), vs.mean()]], np.float32), h, w, spec)[0]
    assert abs(back[0] - x) <= 1.5 * w / 192 + 1 and abs(back[1] - y) <= 1.5 * max(h, w) / 192 + 1


def test_distillation_lowers_the_loss_on_real_frames(small_data, tmp_path):
    from animetool.models import create_model
    from animetool.train.pose import PoseTrainer, batch, load_frames, losses

    frames = load_frames(small_data, "train")
    assert len(frames) == 6 and sum(len(f.people) for f in frames) >= 6
    torch.manual_seed(0)
    model = create_model("pose-student-s", pretrained=False).train()
    fixed = batch(frames, 192, 4, 8, np.random.default_rng(123))

    def loss() -> float:
        with torch.no_grad():
            return float(losses(model(fixed["image"]), fixed)["total"])

    before = loss()
    PoseTrainer(model, frames, tmp_path / "state.pt", steps=25, seed=0, batch_size=8).run()
    model.train()
    assert loss() < 0.7 * before


def test_distill_command_resumes(small_data, tmp_path):
    from conftest import animetool

    out, state = tmp_path / "student.safetensors", tmp_path / "state.pt"
    common = ["distill", "pose", "--data", str(small_data), "-o", str(out), "--batch-size", "2", "--size", "128",
              "--state", str(state), "--json"]
    first = json.loads(animetool(*common, "--steps", "2").stdout)
    assert first["steps"] == 2 and state.exists()
    second = json.loads(animetool(*common, "--steps", "4").stdout)
    assert second["steps"] == 4
    assert torch.load(state, weights_only=False)["step"] == 4
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["arch"] == "pose-student-s" and meta["teacher"] == "blazepose" and meta["licence"] == "Apache-2.0"
    assert meta["train_size"] == "128" and "sports2d-demo" in json.loads(meta["data"])


def test_distill_rejects_a_size_the_strides_do_not_divide(small_data, tmp_path):
    from conftest import animetool

    out = tmp_path / "student.safetensors"
    proc = animetool("distill", "pose", "--data", str(small_data), "-o", str(out), "--size", "100", check=False)
    assert proc.returncode != 0 and "--size 100" in proc.stderr and not out.exists()


def test_export_at_another_input_size(tmp_path):
    """--imgsz re-exports the fully convolutional student at 256 px: the files, the manifest's pre-processing and the
    output maps follow, verify passes against PyTorch at that size, and the runtime letterboxes to it and finds the
    two people of a held-out frame where the 224 px default finds them."""
    import animetool_runtime as rt
    from animetool.data.footage import fetch_footage, read_frame
    from animetool_runtime.manifest import Manifest
    from animetool_runtime.pose.estimator import PoseEstimator
    from conftest import animetool

    out = tmp_path / "b"
    animetool("export", "pose-student-s", "--imgsz", "256", "-t", "onnx,tflite", "-p", "fp32", "-o", str(out))
    animetool("verify", str(out))  # exits non-zero unless every file matches PyTorch at 256 px
    manifest = Manifest.read(out / "manifest.json")
    for e in manifest.models:
        assert e.preprocess.size == (256, 256) and e.preprocess.resize == "letterbox"
        assert e.inputs[0].shape == ([1, 3, 256, 256] if e.format == "onnx" else [1, 256, 256, 3])
    frame = read_frame(fetch_footage(["pose2sim-multi-cam02"])["pose2sim-multi-cam02"], 40)
    for backend in ("onnx", "tflite"):
        model = rt.load(out, backend=backend).model(task="pose")
        maps = PoseEstimator(model).maps(frame)
        assert [m.shape[-1] for m in maps] == [64] * 4
        assert len(PoseEstimator(model)(frame)) in (2, 3)


def test_default_student_tflite_int8_finds_the_people_in_a_real_frame(tmp_path):
    """A held-out frame (never trained on) with two people: every person BlazePose finds has a student person whose
    confident keypoints lie inside that person's box, from the int8 TFLite file run by the runtime."""
    import animetool_runtime as rt
    from animetool.data.footage import fetch_footage, read_frame
    from animetool.data.teachers import BlazePoseTeacher
    from animetool_runtime.pose.estimator import PoseEstimator
    from conftest import animetool

    animetool("export", "pose-student-s", "-t", "tflite", "-p", "int8", "-o", str(tmp_path / "b"))
    estimator = PoseEstimator(rt.load(tmp_path / "b", backend="tflite").model(task="pose"))
    assert estimator.model.entry.inputs[0].dtype == "int8"
    frame = read_frame(fetch_footage(["pose2sim-multi-cam02"])["pose2sim-multi-cam02"], 40)
    truth = BlazePoseTeacher("full", threads=1)(frame)
    found = estimator(frame)
    assert len(truth) == 2 and 2 <= len(found) <= 3
    for person in truth:
        pts = person[person[:, 2] >= 0.5, :2]
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        pad = 0.15 * max(x1 - x0, y1 - y0)
        inside = [np.mean((p[p[:, 2] >= 0.3, 0] >= x0 - pad) & (p[p[:, 2] >= 0.3, 0] <= x1 + pad) &
                          (p[p[:, 2] >= 0.3, 1] >= y0 - pad) & (p[p[:, 2] >= 0.3, 1] <= y1 + pad)) for p in found]
        assert max(inside) >= 0.8


def test_pose_metrics_name_mirrored_edge_and_overlapping_people(small_data):
    """Real people (BlazePose on Sports2D) placed in a 640x480 frame: one in the middle, one at the left edge, two
    overlapping. A perfect prediction is never mirrored and misses nobody; left/right swapped predictions are all
    mirrored; predicting only the middle person misses the edge person and the overlapping pair."""
    from animetool.data.avatar_data import load_poses
    from animetool.models.coco import COCO_FLIP
    from animetool.pose_metrics import evaluate

    pose = max(load_poses(small_data, "train"), key=lambda p: (p[:, 2] >= 0.5).sum()).copy()
    pose[:, 2] = 1.0
    pose[:, :2] -= pose[:, :2].min(0)
    pose[:, :2] *= 150 / pose[:, 1].max()  # 150 px tall
    w = pose[:, 0].max()
    at = lambda x, y: pose + np.array([x, y, 0], np.float32)  # noqa: E731
    middle, edge, a, b = at(320 - w / 2, 160), at(1, 20), at(430, 300), at(430 + 0.5 * w, 310)
    gt = [np.stack([middle, edge]), np.stack([a, b])]
    sizes = [(640, 480), (640, 480)]

    exact = evaluate(gt, gt, sizes)
    assert exact["at_edge"] == 1 and exact["overlapping"] == 2
    assert exact["mirror_rate"] == 0 and exact["edge_miss_rate"] == 0 and exact["overlap_recall"] == 1
    assert exact["single_mean_oks"] is None and exact["multi_mean_oks"] == pytest.approx(1.0)

    assert evaluate(gt, [g[:, COCO_FLIP] for g in gt], sizes)["mirror_rate"] == 1.0

    partial = evaluate(gt, [middle[None], np.zeros((0, 17, 3), np.float32)], sizes)
    assert partial["edge_miss_rate"] == 1.0 and partial["overlap_recall"] == 0.0
    assert partial["mean_oks"] == pytest.approx(0.25)

    none = evaluate(gt, [np.zeros((0, 17, 3), np.float32)] * 2, sizes)  # a model that finds nobody still has a row
    assert none["mean_oks"] == 0 and none["ap"] == 0 and none["edge_miss_rate"] == 1.0 and none["overlap_recall"] == 0
    assert none["mirror_rate"] is None and none["multi_mean_oks"] == 0


def test_pasted_people_land_where_their_labels_say(small_data):
    """Training's synthetic crowds: people cut from other real frames are pasted over a real crop, each with its own
    keypoints, and a keypoint of a person underneath that a pasted one covers is dropped."""
    from animetool.train.pose import add_people, augment, load_frames, person_mask

    frames = load_frames(small_data, "train")
    rng = np.random.default_rng(7)
    pasted = 0
    for _ in range(10):
        img, kps = augment(frames[0], 192, rng)
        out, people = add_people(img, kps, frames, rng, 2)
        assert len(kps) <= len(people) <= len(kps) + 2
        for person in people[len(kps):]:
            inside = (person[:, 2] >= 0.5) & (person[:, :2] >= 0).all(1) & (person[:, :2] < 191).all(1)
            xy = np.round(person[inside, :2]).astype(int)
            changed = np.abs(out - img).sum(-1)[xy[:, 1], xy[:, 0]] > 0
            assert changed.mean() >= 0.8, "a pasted person's keypoints fall outside the pixels pasted"
            pasted += 1
        covered = np.zeros((192, 192), np.float32)
        for person in people[len(kps):]:
            covered = np.maximum(covered, person_mask(person[None], 192))
        for before, after in zip(kps, people[:len(kps)]):
            xy = np.clip(np.round(before[:, :2]).astype(int), 0, 191)
            hidden = covered[xy[:, 1], xy[:, 0]] > 0.5
            assert (after[hidden, 2] == 0).all() and np.array_equal(after[~hidden], before[~hidden])
    assert pasted >= 5


def test_teacher_left_right_is_checked_on_the_mirror_image(small_data):
    """A teacher whose labels follow the picture (its output on the mirror image is the same people mirrored, left and
    right swapped) agrees; one that keeps left on the same side of the picture whichever way it faces (it guessed)
    does not. The data folder records the check from the real teacher's run on each frame's mirror."""
    from animetool.data.poses import load_split, mirror_agrees
    from animetool.models.coco import COCO_FLIP

    with np.load(small_data / "sports2d-demo" / "labels.npz") as z:
        assert z["lr_agrees"].shape == z["people"].shape[:2] and z["lr_agrees"].dtype == bool
    people = np.concatenate([p for _, _, p in load_split(small_data, None)])
    people = people[(people[:, :, 2] >= 0.5).sum(1) >= 10]
    shoulders = np.abs(people[:, 5, 0] - people[:, 6, 0])
    torso = np.linalg.norm(people[:, 5, :2] - people[:, 11, :2], axis=1)
    people = people[shoulders > 0.3 * torso]  # facing the camera or away: left and right apart (in profile they coincide)
    assert len(people) >= 3
    width = 640
    mirrored = people.copy()
    mirrored[..., 0] = width - mirrored[..., 0]
    assert mirror_agrees(people, mirrored[:, COCO_FLIP], width).all()
    # the same labels on the mirror image without the swap: left stays left, so mapped back it is right
    assert not mirror_agrees(people, mirrored, width).any()
