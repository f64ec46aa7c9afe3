"""Whole characters on imperfect poses: keypoints held and completed, fragments never drawn, fading, one id per person.

On real poses (BlazePose's labels of the Sports2D demo) and on the whole demo clip through the default pose student.
"""
from __future__ import annotations

import numpy as np
import pytest

from animetool_runtime.pose.track import CONFIRM, FADE_SECONDS, HOLD_SECONDS, Hold, Tracker, complete, frame_people, untangle, whole

FPS = 30.0


@pytest.fixture(scope="module")
def pose(small_data) -> np.ndarray:
    """A real person, every keypoint seen (BlazePose on the Sports2D demo)."""
    from animetool.data.avatar_data import load_poses

    people = [p for p in load_poses(small_data, "train") if (p[:, 2] >= 0.3).all()]
    assert people
    return people[0].copy()


def moved(p: np.ndarray, dx: float, drop=()) -> np.ndarray:
    q = p.copy()
    q[:, 0] += dx
    q[list(drop), 2] = 0.0
    return q


def test_a_lost_keypoint_is_held_where_the_body_moved_then_let_go(pose):
    hold = Hold(FPS)
    drawn, opacity = hold(pose)
    assert opacity == 1 and np.array_equal(drawn, pose)
    frames = round(HOLD_SECONDS * FPS)
    for i in range(1, frames + 1):  # the left wrist is lost while the person walks right 4 px a frame
        drawn, opacity = hold(moved(pose, 4 * i, drop=[9]))
        assert opacity == 1 and drawn[9, 2] >= 0.3
        np.testing.assert_allclose(drawn[9, :2], pose[9, :2] + (4 * i, 0), atol=1e-3)
    drawn, _ = hold(moved(pose, 4 * (frames + 1), drop=[9]))
    assert drawn[9, 2] < 0.3  # held for HOLD_SECONDS, not forever


def test_a_missing_shoulder_is_completed_from_the_torso(pose):
    p = moved(pose, 0, drop=[6])
    done = complete(p)
    np.testing.assert_allclose(done[6, :2], pose[5, :2] + pose[12, :2] - pose[11, :2], atol=1e-4)
    assert whole(done) and not whole(p)
    assert not whole(complete(moved(pose, 0, drop=[6, 12])))  # one shoulder and one hip: nothing to go by


def test_crossed_wrists_are_untangled_and_folded_arms_kept():
    """A real swap (the pose student on a held-out frame: each wrist labelled on the other side, so each "forearm"
    crosses the body) is put back; folded arms, whose forearms cross for real at a plausible length, are not; the web
    app's untangle does the same."""
    import json
    import subprocess

    from conftest import need
    from test_character import STANDING, SWAPPED, WEB

    fixed = untangle(SWAPPED)
    np.testing.assert_array_equal(fixed[[9, 10]], SWAPPED[[10, 9]])
    np.testing.assert_array_equal(np.delete(fixed, [9, 10], 0), np.delete(SWAPPED, [9, 10], 0))
    forearms = [np.hypot(*(fixed[a, :2] - fixed[b, :2])) for a, b in ((7, 9), (8, 10))]
    assert max(forearms) < 130  # was 289 and 294 px, for a man of about 650
    folded = STANDING.copy()
    folded[9, :2], folded[10, :2] = (130, 120), (126, 122)  # each wrist past the body's middle, forearms of 36 px
    np.testing.assert_array_equal(untangle(folded), folded)
    np.testing.assert_array_equal(untangle(STANDING), STANDING)
    need(("node",))
    script = """
import {untangle} from "./lib/track.js";
import {readFileSync} from "fs";
process.stdout.write(JSON.stringify(JSON.parse(readFileSync(0, "utf8")).map(untangle)));
"""
    poses = [SWAPPED, folded, STANDING]
    proc = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps([p.tolist() for p in poses]),
                          cwd=WEB, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for theirs, mine in zip(json.loads(proc.stdout), poses):
        np.testing.assert_allclose(np.array(theirs, np.float32), untangle(mine), atol=1e-4)


def test_fragments_are_never_drawn_and_a_broken_pose_fades_out(pose):
    legs_only = moved(pose, 0, drop=range(11))
    hold = Hold(FPS)
    for _ in range(5):
        assert hold(legs_only) == (None, 0.0)  # a pair of legs is not a character
    hold = Hold(FPS)
    hold(pose)
    held, fade, opacities = round(HOLD_SECONDS * FPS), round(FADE_SECONDS * FPS), []
    for i in range(held + fade + 2):  # the person turns into a pair of legs (say, backlight) moving right
        drawn, opacity = hold(moved(legs_only, 3 * (i + 1)))
        opacities.append(opacity)
        if drawn is not None:  # the upper body held, then the last whole body: moved with the legs
            assert whole(drawn)
            np.testing.assert_allclose(drawn[0, :2], pose[0, :2] + (3 * (i + 1), 0), atol=1e-3)
    assert opacities[:held] == [1.0] * held
    fading = opacities[held:held + fade]
    assert all(a > b for a, b in zip(fading, fading[1:])) and fading[-1] > 0 and opacities[-2:] == [0.0, 0.0]


def test_one_frame_ghosts_are_not_drawn_and_people_keep_their_id_through_a_gap(pose):
    tracker = Tracker(FPS)
    ghost = moved(pose, 900)
    assert tracker.update(np.stack([pose, ghost]), 0) == []  # nobody is drawn before CONFIRM frames
    for i in range(1, CONFIRM):
        drawn = tracker.update(pose[None], i)
    assert [t.id for t in drawn] == [0] and len(tracker.tracks) == 1  # the ghost seen once is forgotten
    frame = CONFIRM
    for _ in range(int(1.5 * FPS)):  # unseen for 1.5 s: faded out, then nothing drawn, the track kept
        drawn = tracker.update(np.zeros((0, 17, 3), np.float32), frame)
        frame += 1
    assert drawn == [] and len(tracker.tracks) == 1
    height = np.ptp(pose[:, 1])
    back = tracker.update(moved(pose, 0.8 * height)[None], frame)  # seen again 0.8 body heights away
    assert [t.id for t in back] == [0] and back[0].opacity == 1


def test_a_stray_point_is_no_person_and_does_not_split_the_track_it_lands_on(pose):
    """A person lost (backlight), a stray keypoint detected on them meanwhile, then only their head found again: the
    stray point is no person (frame_people, and the web app's framePeople, leave it out), so the track keeps the
    person's last box and takes the head up; before, the point became the track's box, one pixel wide, and the head
    started a second character (the Sports2D demo's man on the roof)."""
    import json
    import subprocess

    from conftest import need
    from test_character import WEB

    height = float(np.ptp(pose[:, 1]))
    stray = np.zeros_like(pose)
    stray[0] = pose[0] + (0.1 * height, 0, 0)  # one point near the lost person's nose
    head = moved(pose, 0.9 * height, drop=range(5, 17))  # nose, eyes and ears only, 0.9 heights away
    frames = [[pose]] * 10 + [[]] * 20 + [[stray]] + [[]] * 10 + [[head]] * 5
    tracker, ids = Tracker(FPS), []
    for i, detections in enumerate(frames):
        people = frame_people(np.asarray(detections, np.float32).reshape(-1, 17, 3))
        assert len(people) == len(detections) - (i == 30)
        ids.append([t.id for t in tracker.update(people, i)])
    assert ids[9] == [0] and ids[-1] == [0] and all(f in ([], [0]) for f in ids)
    need(("node",))
    script = """
import {framePeople} from "./lib/track.js";
import {readFileSync} from "fs";
process.stdout.write(JSON.stringify(JSON.parse(readFileSync(0, "utf8")).map(d => framePeople(d))));
"""
    proc = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps([[p.tolist() for p in f] for f in frames]),
                          cwd=WEB, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout)
    for detections, their_people in zip(frames, theirs):
        mine = frame_people(np.asarray(detections, np.float32).reshape(-1, 17, 3))
        assert len(their_people) == len(mine)
        for q, p in zip(their_people, mine):
            np.testing.assert_allclose(np.array(q, np.float32), p, atol=1e-5)


def test_the_sports2d_demo_keeps_one_track_per_person_and_draws_whole_characters(app_bundle):
    """The whole demo clip through the default pose student: the man on the roof jumps off into the backlight (the
    model loses him for about two seconds) and the woman walks past; each keeps one id, no character lacks a torso."""
    from animetool.data.footage import fetch_footage
    from animetool_runtime import load
    from animetool_runtime.pose.estimator import PoseEstimator
    from animetool_runtime.video import Reader

    estimator = PoseEstimator(load(app_bundle, "tflite", "int8", 2).model(task="pose"))
    reader = Reader(fetch_footage(["sports2d-demo"])["sports2d-demo"])
    tracker, frames, drawn, broken = Tracker(float(reader.fps)), {}, 0, 0
    for i, rgb in enumerate(reader.frames()):
        for t in tracker.update(frame_people(estimator(rgb), 4), i):
            frames.setdefault(t.id, []).append(i)
            drawn += 1
            broken += not whole(t.pose)
    reader.close()
    assert len(frames) == 2, {k: (v[0], v[-1], len(v)) for k, v in frames.items()}
    assert broken == 0 and drawn > 300


def test_web_app_tracker_is_the_runtime_s(pose):
    """lib/track.js (the phone app) draws the same tracks, poses and opacities as the runtime on the same detections:
    a walking person with keypoints dropping out, a gap, a ghost, a second person."""
    import json
    import subprocess

    from conftest import need
    from test_character import WEB

    need(("node",))
    rng = np.random.default_rng(0)
    frames = []
    for i in range(90):
        people = []
        if not 30 <= i < 45:  # person A walks right, unseen for half a second
            a = moved(pose, 5 * i)
            a[rng.random(17) < 0.15, 2] = 0.1
            people.append(a)
        if i >= 10:
            people.append(moved(pose, 700, drop=[7, 9] if i % 7 == 0 else []))
        if i == 20:
            people.append(moved(pose, -600))
        frames.append(np.asarray(people, np.float32).reshape(-1, 17, 3))
    tracker, mine = Tracker(FPS), []
    for i, people in enumerate(frames):
        mine.append([(t.id, t.pose, t.opacity) for t in tracker.update(people, i)])
    script = """
import {Tracker} from "./lib/track.js";
import {readFileSync} from "fs";
const tracker = new Tracker(%s), out = [];
JSON.parse(readFileSync(0, "utf8")).forEach((people, i) => out.push(tracker.update(people, i).map(t => [t.id, t.pose, t.opacity])));
process.stdout.write(JSON.stringify(out));
""" % FPS
    proc = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps([f.tolist() for f in frames]),
                          cwd=WEB, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout)
    assert [[t[0] for t in f] for f in theirs] == [[t[0] for t in f] for f in mine]
    assert sum(len(f) for f in mine) > 100 and any(o < 1 for f in mine for _, _, o in f)
    for f_mine, f_theirs in zip(mine, theirs):
        for (_, p, o), (_, q, oq) in zip(f_mine, f_theirs):
            assert abs(o - oq) < 1e-6
            np.testing.assert_allclose(np.array(q, np.float32), p, atol=1e-3)
