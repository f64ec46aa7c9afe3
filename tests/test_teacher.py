"""Pose teachers on real models and real frames: BlazePose taken out of the mediapipe packages, Sports2D's demo clip."""
from __future__ import annotations

import importlib.resources
import json

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from animetool.data.footage import SPORTS2D, fetch_sports2d_demo, read_frame
from animetool.data.packages import Asset, Package, PackageError, fetch_assets
from animetool.data.teachers import TEACHERS, BlazePoseTeacher, FileTeacher, PoseTeacher, TeacherError, TorchTeacher, fetch, teacher_app
from animetool_runtime.image import warp_affine
from animetool_runtime.manifest import sha256_path
from animetool_runtime.pose.blazepose import BlazePose, ssd_anchors

from conftest import animetool

NOSE, L_EYE, R_EYE, L_SHOULDER, R_SHOULDER = 0, 1, 2, 5, 6
TWO_PEOPLE_FRAME = 60  # the man on the roof of the hut (far, arms up) and the woman walking in front of the trees


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(Image.open(importlib.resources.files("skimage") / "data" / "astronaut.png").convert("RGB"))


@pytest.fixture(scope="module")
def two_people() -> np.ndarray:
    return read_frame(fetch_sports2d_demo(), TWO_PEOPLE_FRAME)


@pytest.fixture(scope="module", params=["full", "lite"])
def teacher(request) -> BlazePoseTeacher:
    return BlazePoseTeacher(request.param, threads=1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    return float(inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter))


def test_fetch_pins_every_file_and_caches_it():
    paths = fetch("blazepose")
    assert set(paths) == set(TEACHERS["blazepose"])
    for key, asset in TEACHERS["blazepose"].items():
        assert sha256_path(paths[key]) == asset.sha256
        assert asset.package.licence == "Apache-2.0"
    assert fetch("blazepose") == paths


def test_cli_fetch_prints_paths_digests_and_licences():
    app = typer.Typer()
    app.add_typer(teacher_app, name="teacher")
    res = CliRunner().invoke(app, ["teacher", "fetch", "blazepose", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["file"]: r for r in json.loads(res.stdout)}
    assert rows["detector"]["source"] == "mediapipe==0.10.21:mediapipe/modules/pose_detection/pose_detection.tflite"
    assert rows["landmark_lite"]["source"] == "@mediapipe/pose@0.5.1675469404:package/pose_landmark_lite.tflite"
    assert all(r["licence"] == "Apache-2.0" and len(r["sha256"]) == 64 for r in rows.values())
    bad = CliRunner().invoke(app, ["teacher", "fetch", "nosuch"])
    assert bad.exit_code == 2 and bad.output.strip().splitlines() == ["error: unknown teacher 'nosuch'; known: blazepose"]


def test_fetch_refuses_a_wrong_digest_and_leaves_nothing(tmp_path):
    with pytest.raises(PackageError, match=r"^sports2d==0.8.34: Sports2D/Demo/demo.mp4 has sha256 \w+, expected 0+ "):
        fetch_assets({"demo": Asset(SPORTS2D, "Sports2D/Demo/demo.mp4", "0" * 64)}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_names_the_package_when_the_registry_fails(tmp_path):
    missing = Package("pypi", "sports2d", "0.0.0", "BSD-3-Clause")
    with pytest.raises(PackageError, match=r"^sports2d==0.0.0: pip download failed \(.*sports2d==0.0.0"):
        fetch_assets({"demo": Asset(missing, "Sports2D/Demo/demo.mp4", "0" * 64)}, tmp_path)


def test_warp_affine_matches_exact_rotations_and_borders():
    img = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    rot = warp_affine(img, np.array([[0, -1, 52], [1, 0, 0]]), 53, 37)
    assert np.array_equal(rot, np.rot90(img).astype(np.float32))
    shifted = np.array([[1, 0, -2], [0, 1, 0]])
    assert np.all(warp_affine(img, shifted, 37, 53)[:, :2] == 0)
    assert np.array_equal(warp_affine(img, shifted, 37, 53, border="replicate")[:, :2], np.repeat(img[:, :1], 2, 1).astype(np.float32))


def test_detector_anchors_match_the_model():
    assert ssd_anchors(224).shape == (2254, 2)


def test_astronaut_is_one_person_facing_the_camera(teacher, astronaut):
    people = teacher(astronaut)
    assert people.shape == (1, 17, 3) and people.dtype == np.float32
    kp = people[0]
    for j in (NOSE, L_EYE, R_EYE):  # her face: x 150..300, y 40..190 in the 512x512 photo
        assert 150 < kp[j, 0] < 300 and 40 < kp[j, 1] < 190 and kp[j, 2] > 0.9
    for j in (L_SHOULDER, R_SHOULDER):  # the suit's shoulders, below the helmet ring
        assert 60 < kp[j, 0] < 360 and 190 < kp[j, 1] < 320 and kp[j, 2] > 0.9
    assert kp[L_EYE, 0] > kp[NOSE, 0] > kp[R_EYE, 0]  # COCO left = her left = image right
    assert kp[L_SHOULDER, 0] > kp[R_SHOULDER, 0]
    assert max(kp[L_EYE, 1], kp[R_EYE, 1]) < kp[NOSE, 1] < min(kp[L_SHOULDER, 1], kp[R_SHOULDER, 1])
    assert kp[L_SHOULDER, 0] - kp[R_SHOULDER, 0] > 3 * (kp[L_EYE, 0] - kp[R_EYE, 0])


def test_sports2d_frame_has_two_separate_people(teacher, two_people):
    h, w = two_people.shape[:2]
    people = teacher.detect(two_people)
    assert len(people) == 2
    for p in people:
        confident = p["keypoints"][p["keypoints"][:, 2] > 0.5]
        assert len(confident) >= 12
        assert np.all((confident[:, 0] >= 0) & (confident[:, 0] < w) & (confident[:, 1] >= 0) & (confident[:, 1] < h))
        assert p["box"][3] - p["box"][1] > 300  # head to feet, both standing
    assert iou(people[0]["box"], people[1]["box"]) < 0.05
    assert sorted(round(float(p["box"][0]) / w, 1) for p in people) == [0.3, 0.7]


def test_letterboxing_alone_misses_the_far_person(two_people):
    """Why BlazePose tiles wide frames: mediapipe's single letterboxed view scores the man on the roof below 0.5."""
    paths = fetch("blazepose")
    mediapipe_like = BlazePose(paths["detector"], paths["landmark_full"], threads=1, tile=False)
    assert len(mediapipe_like(two_people)) == 1


@pytest.fixture(scope="module")
def standin_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher") / "bundle"
    animetool("export", "pose-student-s", "-t", "onnx", "-p", "fp32", "-o", str(out))
    return out


def test_file_teacher_decodes_a_pose_bundle_in_image_pixels(standin_bundle, astronaut):
    t = FileTeacher(standin_bundle, threads=1)
    kp = t(astronaut[:, :400])
    assert isinstance(t, PoseTeacher) and kp.shape[1:] == (17, 3) and len(kp) >= 1
    assert np.all((kp[..., 0] > -40) & (kp[..., 0] < 440) & (kp[..., 1] > -40) & (kp[..., 1] < 552))
    with pytest.raises(TeacherError, match="bare .onnx"):
        FileTeacher(standin_bundle / "pose-student-s.fp32.onnx")


def test_torch_teacher_checks_what_the_module_returns(astronaut):
    class Fixed(torch.nn.Module):
        def __init__(self, shape):
            super().__init__()
            self.shape = shape

        def forward(self, rgb):
            return torch.zeros(self.shape)

    good = TorchTeacher(Fixed((2, 17, 3)))
    assert isinstance(good, PoseTeacher) and good(astronaut).shape == (2, 17, 3)
    with pytest.raises(TeacherError, match=r"must return \(people, 17, 3\), got \[17, 3\]"):
        TorchTeacher(Fixed((17, 3)))(astronaut)
