"""animate end to end: real footage in (cut from the Sports2D demo at test time), H.264 with characters out."""
from __future__ import annotations

import dataclasses

import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from animetool_runtime.animate import PLAIN
from animetool_runtime.manifest import MANIFEST, Manifest
from animetool_runtime.pose.track import Tracker, jitter
from animetool_runtime.video import Writer
from conftest import SECONDS, animetool
from test_bad_inputs import assert_one_line_error


def decode(path: Path) -> tuple[list[np.ndarray], Fraction, list[str]]:
    """Every frame (RGB), the frame rate and the stream types of a file, read with PyAV directly."""
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        return frames, c.streams.video[0].average_rate, [s.type for s in c.streams]


@pytest.fixture(scope="module")
def animated(app_bundle, clip, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("animated") / "anime.mp4"
    proc = animetool("animate", str(clip), "-o", str(out), "--bundle", str(app_bundle), "--size", "128",
                     "--background", "plain", "--threads", "2", "--json")
    return out, json.loads(proc.stdout)


def test_output_has_the_inputs_frames_rate_size_and_audio(animated, clip):
    out, result = animated
    frames_in, rate_in, _ = decode(clip)
    frames_out, rate_out, streams = decode(out)
    assert len(frames_out) == len(frames_in) == result["frames"] == round(SECONDS * 30)
    assert rate_out == rate_in == 30
    assert frames_out[0].shape == frames_in[0].shape
    assert streams == ["video", "audio"]  # the audio is passed through
    assert result["models"]["generator"].startswith("generator-student/") and result["size"] == 128
    for row in result["per_frame"]:
        assert all(row[s] >= 0 for s in ("decode", "pose", "generator", "composite", "encode"))
    assert not list(out.parent.glob(".*partial*"))


def test_characters_are_drawn_where_the_people_are(animated):
    out, result = animated
    frames, _, _ = decode(out)
    drawn_frames = 0
    for frame, row in zip(frames, result["per_frame"]):
        drawn = np.abs(frame.astype(int) - PLAIN.astype(int)).max(-1) > 40  # on the plain page, only characters
        inside = np.zeros_like(drawn)
        for t in row["tracks"]:
            x0, y0, x1, y1 = t["box"]
            pad = 0.3 * max(y1 - y0, x1 - x0)
            inside[max(0, int(y0 - pad)):int(y1 + pad), max(0, int(x0 - pad)):int(x1 + pad)] = True
            if y1 - y0 > 150:  # a whole person: their character covers a good part of their box
                assert drawn[int(y0):int(y1), int(x0):int(x1)].mean() > 0.05, (row["frame"], t)
        if row["tracks"]:
            drawn_frames += 1
            assert drawn[~inside].mean() < 0.002, row["frame"]
    assert drawn_frames >= 0.9 * len(frames)


def test_tracker_keeps_ids_on_real_footage(animated):
    """The man on the box is seen throughout; the woman walks in about a second later: one identity each, unbroken."""
    _, result = animated
    seen: dict[int, list[int]] = {}
    for row in result["per_frame"]:
        assert len({t["id"] for t in row["tracks"]}) == len(row["tracks"])
        for t in row["tracks"]:
            seen.setdefault(t["id"], []).append(row["frame"])
    people = {i: frames for i, frames in seen.items() if len(frames) >= 5}
    assert len(people) == 2, {i: len(f) for i, f in seen.items()}
    assert max(len(f) for f in people.values()) >= 0.9 * result["frames"]
    for frames in people.values():  # once found, kept: at most a couple of missed frames inside the run
        assert frames[-1] - frames[0] + 1 - len(frames) <= 2, frames


def test_one_euro_smoothing_lowers_jitter_with_bounded_lag():
    rng = np.random.default_rng(0)
    base = np.array([[0, -80], [-5, -85], [5, -85], [-10, -82], [10, -82], [-20, -60], [20, -60], [-25, -30], [25, -30],
                     [-28, 0], [28, 0], [-12, 0], [12, 0], [-12, 40], [12, 40], [-12, 80], [12, 80]], np.float32)
    tracker, truth, raw, smooth = Tracker(fps=30), [], [], []
    for i in range(120):
        pos = base + [300 + 2.0 * i, 300 + 40 * np.sin(i / 20)]  # walking right, bobbing
        noisy = pos + rng.normal(0, 3.0, pos.shape)
        people = np.concatenate([noisy, np.ones((17, 1))], 1)[None].astype(np.float32)
        tracker.update(people, i)
        (track,) = tracker.tracks
        assert track.id == 0
        truth.append(pos), raw.append(people[0]), smooth.append(track.keypoints)
    raw_j, smooth_j = jitter(np.stack(raw)), jitter(np.stack(smooth))
    assert smooth_j < 0.5 * raw_j, (raw_j, smooth_j)
    err = lambda seq: float(np.linalg.norm(np.stack(seq)[30:, :, :2] - np.stack(truth)[30:], axis=-1).mean())  # noqa: E731
    assert err(smooth) < 1.5 * err(raw), (err(smooth), err(raw))  # the filter trades a little lag for the jitter


def test_image_in_image_out(app_bundle, clip, tmp_path):
    frames, _, _ = decode(clip)  # frame 50: both people in view
    photo = tmp_path / "frame.png"
    with Writer(photo, frames[50].shape[1], frames[50].shape[0], 1) as w:
        w.write(frames[50])
    out = tmp_path / "anime.png"
    proc = animetool("animate", str(photo), "-o", str(out), "--bundle", str(app_bundle), "--backend", "onnx", "--json")
    result = json.loads(proc.stdout)
    (picture,), _, _ = decode(out)
    assert picture.shape == frames[50].shape and result["frames"] == 1 and result["people_max"] >= 2
    assert result["models"]["generator"].startswith("generator-student-256/")  # the largest generator by default
    changed = np.abs(picture.astype(int) - frames[50].astype(int)).max(-1) > 40
    assert changed.mean() > 0.005


def test_corrupt_empty_and_missing_inputs_fail_in_one_line(app_bundle, clip, tmp_path):
    out = tmp_path / "out.mp4"
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(clip.read_bytes()[:3000] + bytes(5000))
    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()  # a header, no frames (FFmpeg then drops the empty track: "no video stream")
    for src, needles in ((corrupt, ("corrupt.mp4", "not a readable video")), (empty, ("empty.mp4", "no video")),
                         (tmp_path / "nope.mp4", ("nope.mp4", "no such file"))):
        proc = animetool("animate", str(src), "-o", str(out), "--bundle", str(app_bundle), check=False)
        assert_one_line_error(proc, *needles)
        assert not out.exists() and not list(tmp_path.glob(".out.mp4*")), src
    proc = animetool("animate", str(clip), "-o", str(tmp_path / "nowhere" / "out.mp4"), "--bundle", str(app_bundle),
                     check=False)  # the output's fault, named as such (not the input being read)
    assert_one_line_error(proc, "nowhere/out.mp4", "no folder")


def test_a_video_with_nobody_warns_and_a_bundle_without_generator_fails(app_bundle, tmp_path):
    grey = tmp_path / "grey.mp4"
    with Writer(grey, 320, 240, 30) as w:
        for i in range(10):
            w.write(np.full((240, 320, 3), 120 + i, np.uint8))
    out = tmp_path / "out.mp4"
    proc = animetool("animate", str(grey), "-o", str(out), "--bundle", str(app_bundle), "--size", "128")
    assert "no people found" in proc.stderr and out.exists()

    pose_only = tmp_path / "pose-only"
    shutil.copytree(app_bundle, pose_only)
    m = Manifest.read(pose_only / MANIFEST)
    m.models = [e for e in m.models if e.task == "pose"]
    (pose_only / MANIFEST).write_text(m.to_json())
    proc = animetool("animate", str(grey), "-o", str(tmp_path / "x.mp4"), "--bundle", str(pose_only), check=False)
    assert_one_line_error(proc, "pose-only", "no pose-conditioned generator")
    proc = animetool("animate", str(grey), "-o", str(tmp_path / "x.mp4"), "--bundle", str(app_bundle), "--size", "200",
                     check=False)
    assert_one_line_error(proc, "no generator drawing at 200 px")

    old = tmp_path / "old-layout"  # a bundle exported before the conditioning changed: its generators learnt layout 1
    shutil.copytree(app_bundle, old)
    m = Manifest.read(old / MANIFEST)
    for e in m.models:
        if e.preprocess.conditioning:
            e.preprocess = dataclasses.replace(e.preprocess, conditioning=None)
    (old / MANIFEST).write_text(m.to_json())
    proc = animetool("animate", str(grey), "-o", str(tmp_path / "x.mp4"), "--bundle", str(old), check=False)
    assert_one_line_error(proc, "old-layout", "conditioning layout 1", "export the generator again")


def test_default_models_need_no_bundle(clip, tmp_path):
    """With no --bundle, the default models are exported to TFLite int8 once, verified, cached and used."""
    out = tmp_path / "anime.mp4"
    result = json.loads(animetool("animate", str(clip), "-o", str(out), "--max-people", "1", "--json").stdout)
    assert result["models"]["pose"] == "pose-student-s/tflite/int8"
    assert result["models"]["generator"].split("/")[1:] == ["tflite", "int8"]
    assert result["frames"] == 60 and result["people_max"] == 1 and out.is_file()
