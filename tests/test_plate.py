"""The scene without its people (`--background original`): person masks from poses, the clean plate and its fill, on
the Sports2D demo's real frames through the default pose student; the web app's lib/plate.js against the runtime."""
from __future__ import annotations

import base64
import json
import subprocess

import numpy as np
import pytest

from animetool_runtime.plate import SCALE, STILL, Plate, cells_to_pixels, near_people, person_mask

BEFORE, AFTER = 10, 100  # the woman walks in at about frame 37: the plate has seen the grass she later stands on
CLEAR_OF_POSE = 1e-6  # a cell the pose's own mask does not touch


@pytest.fixture(scope="module")
def demo(app_bundle):
    """Frames 0..AFTER of the Sports2D demo and the people the default pose student finds in each."""
    from animetool.data.footage import fetch_footage
    from animetool_runtime import load
    from animetool_runtime.pose.estimator import PoseEstimator
    from animetool_runtime.pose.track import suppress
    from animetool_runtime.video import Reader

    estimator = PoseEstimator(load(app_bundle, "tflite", "int8", 2).model(task="pose"))
    reader = Reader(fetch_footage(["sports2d-demo"])["sports2d-demo"])
    frames, people = [], []
    for i, rgb in enumerate(reader.frames()):
        frames.append(rgb)
        people.append(suppress(estimator(rgb))[:4])
        if i == AFTER:
            break
    reader.close()
    return frames, people


def test_mask_covers_the_person_and_not_the_scene(demo):
    frames, people = demo
    h, w = frames[AFTER].shape[:2]
    mask = person_mask(people[AFTER], h, w)
    assert mask.shape == (-(-h // SCALE), -(-w // SCALE)) and len(people[AFTER]) == 2
    for person in people[AFTER]:
        seen = person[person[:, 2] >= 0.3, :2]
        cells = np.clip(((seen + 0.5) / SCALE - 0.5).round().astype(int), 0, [mask.shape[1] - 1, mask.shape[0] - 1])
        assert (mask[cells[:, 1], cells[:, 0]] > 0.9).all()  # every keypoint inside the mask
    assert 0.005 < (mask > 0.5).mean() < 0.1  # two people, not the frame


def test_people_are_replaced_by_the_background_seen_before(demo):
    """Where the woman stands at frame AFTER, the output shows the grass of frame BEFORE, not her."""
    frames, people = demo
    plate = Plate()
    for rgb, found in zip(frames[:AFTER], people[:AFTER]):
        plate(rgb.copy(), found)
    out = plate(frames[AFTER].copy(), people[AFTER])
    h, w = out.shape[:2]
    woman = max(people[AFTER], key=lambda p: p[:, 1].max())  # the one on the ground, lower in the frame
    inside = cells_to_pixels(person_mask([woman], h, w), h, w) > 0.9
    was = np.abs(frames[AFTER].astype(int) - frames[BEFORE])[inside].mean()
    now = np.abs(out.astype(int) - frames[BEFORE])[inside].mean()
    assert was > 15 and now < 0.5 * was, (was, now)
    untouched = cells_to_pixels(plate.mask, h, w) == 0
    assert np.array_equal(out[untouched], frames[AFTER][untouched])  # nobody's pixels are not touched


def test_where_the_plate_never_saw_the_scene_the_fill_is_the_scene_around_the_people(demo):
    """A plate that has seen nothing yet (the first frame) fills the people with the frame around them, blurred: their
    own pixels do not show through as a ghost (painting them magenta changes no filled pixel), and the fill has the
    colours of what is beside them."""
    from animetool_runtime.plate import CLEAR, grow

    frames, people = demo
    rgb = frames[AFTER]
    h, w = rgb.shape[:2]
    mask = person_mask(people[AFTER], h, w)
    painted = rgb.copy()
    painted[cells_to_pixels(mask, h, w) >= CLEAR] = (255, 0, 255)
    out = Plate()(rgb.copy(), people[AFTER])
    inside = cells_to_pixels(mask, h, w) >= 1  # wholly the people's cells: the fill alone
    assert np.array_equal(Plate()(painted, people[AFTER])[inside], out[inside])
    ring = cells_to_pixels((grow(mask, 4) > 0) & (mask == 0), h, w) > 0  # 16 px around the people
    assert np.abs(out[inside].mean(0) - rgb[ring].mean(0)).max() < 20, (out[inside].mean(0), rgb[ring].mean(0))


def test_people_nearly_everywhere_fill_with_the_plain_blur_in_both_runtimes(demo):
    """Too little background for any coarse cell of the fill (a close-up: people on every cell but the last rows,
    which the fill's downscale drops), on a frame whose size is not a multiple of the grid: the fill falls back to the
    plain blurred frame instead of spreading from nothing, and lib/plate.js computes the same fill."""
    from conftest import need
    from test_character import WEB
    from animetool_runtime.plate import surroundings

    need(("node",))
    rgb = np.ascontiguousarray(demo[0][AFTER][:403, :601])  # 4 x 100 + 3 by 4 x 150 + 1
    h, w = rgb.shape[:2]
    sub = rgb[::SCALE, ::SCALE]
    mask = np.ones(sub.shape[:2], np.float32)
    mask[-1:] = 0  # one row of background, lost in the downscale
    fill = surroundings(sub, mask, h, w)
    assert fill.shape == (*mask.shape, 3) and 20 < fill.std() and fill.min() < fill.max()
    script = """
import {surroundings} from "./lib/plate.js";
import {readFileSync} from "fs";
const f = JSON.parse(readFileSync(0, "utf8"));
const sub = new Int16Array(Buffer.from(f.sub, "base64").length);
Buffer.from(f.sub, "base64").forEach((v, i) => { sub[i] = v; });
const out = surroundings(sub, Float32Array.from(f.mask), f.gh, f.gw, f.h, f.w);
process.stdout.write(Buffer.from(Uint8Array.from(out)).toString("base64"));
"""
    payload = {"sub": base64.b64encode(np.ascontiguousarray(sub).tobytes()).decode(), "mask": mask.ravel().tolist(),
               "gh": mask.shape[0], "gw": mask.shape[1], "h": h, "w": w}
    proc = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps(payload), cwd=WEB,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = np.frombuffer(base64.b64decode(proc.stdout), np.uint8).reshape(fill.shape)
    assert np.abs(theirs.astype(int) - fill).max() <= 1


def test_what_the_pose_misses_is_removed_too(demo):
    """The woman walks side-on: the pose student puts both legs on the near one, so the pose's mask leaves her far leg
    showing. Cells near her that differ from the plate are taken too: BlazePose's own segmentation of her (an
    independent model) shows much less of her left, the added cells show the plate, and nothing is added far from
    everybody."""
    from animetool.data.teachers import BlazePoseTeacher
    from animetool_runtime.pose.blazepose import segmentation_in

    frames, people = demo
    teacher = BlazePoseTeacher("full", threads=1).model
    plate, pose_only, with_plate, added = Plate(), [], [], 0
    for i, (rgb, found) in enumerate(zip(frames, people)):
        out = plate(rgb.copy(), found)
        if i < 55 or i % 5:
            continue
        h, w = rgb.shape[:2]
        segs = [segmentation_in(p["segmentation"], h, w) > 0.5 for p in teacher.detect(rgb)]
        seg = max(segs, key=lambda m: np.nonzero(m)[0].mean() if m.any() else -1)  # the woman: lowest in the frame
        pose = person_mask(found, h, w)
        more = (plate.mask > 0.5) & (pose < CLEAR_OF_POSE)
        assert not (more & ~near_people(found, h, w)).any()
        px = cells_to_pixels(more, h, w)
        assert np.array_equal(out[px], plate.image[px])  # the background the plate knows, not the frame
        added += int(more.sum())
        pose_only.append((seg & ~(cells_to_pixels(pose, h, w) > 0.5)).sum() / seg.sum())
        with_plate.append((seg & ~(cells_to_pixels(plate.mask, h, w) > 0.5)).sum() / seg.sum())
    assert added > 0 and np.mean(with_plate) < 0.6 * np.mean(pose_only), (np.mean(pose_only), np.mean(with_plate))


def test_a_moving_camera_empties_the_plate(demo):
    frames, people = demo
    plate = Plate()
    for rgb, found in zip(frames[:20], people[:20]):
        plate(rgb.copy(), found)
    assert plate.seen.mean() > 0.9
    panned = np.ascontiguousarray(frames[20][::-1, ::-1])  # the camera turned to another view (here: upside down)
    plate(panned.copy(), [])
    assert plate.seen.mean() < 0.1  # emptied, but for the few cells the turn did not change
    for _ in range(STILL):  # the camera holds still again: relearnt
        plate(panned.copy(), [])
    assert plate.seen.all() and np.array_equal(plate.image, panned)


def test_web_app_plate_is_the_runtime_s(demo):
    """lib/plate.js removes the same people from the same frames as the runtime (its float64 sums may round a few
    pixels the other way)."""
    from conftest import need
    from test_character import WEB

    need(("node",))
    frames, people = demo
    picks = list(range(30, 55, 3))  # the woman walking in while the plate learns
    small = [f[::2, ::2].copy() for f in frames]  # half size keeps the JSON small; the plate works at any size
    found = [[(p * [0.5, 0.5, 1]).tolist() for p in people[i]] for i in range(len(frames))]
    plate, mine, added = Plate(), [], 0
    for i in picks:
        mine.append(plate(small[i].copy(), np.asarray(found[i], np.float32).reshape(-1, 17, 3)))
        added += int(((plate.mask > 0) & (person_mask(np.asarray(found[i], np.float32).reshape(-1, 17, 3), *small[i].shape[:2]) == 0)).sum())
    assert added > 0  # the cells taken for differing from the plate are compared too
    payload = [{"rgb": base64.b64encode(small[i].tobytes()).decode(), "people": found[i]} for i in picks]
    h, w = small[0].shape[:2]
    script = """
import {Plate} from "./lib/plate.js";
import {readFileSync} from "fs";
const plate = new Plate();
for (const f of JSON.parse(readFileSync(0, "utf8"))) {
  const frame = {data: new Uint8Array(Buffer.from(f.rgb, "base64")), width: %d, height: %d, channels: 3};
  process.stdout.write(Buffer.from(plate.remove(frame, f.people).data).toString("base64") + "\\n");
}
""" % (w, h)
    proc = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps(payload), cwd=WEB,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split()
    assert len(lines) == len(picks)
    for i, ours, line in zip(picks, mine, lines):
        theirs = np.frombuffer(base64.b64decode(line), np.uint8).reshape(ours.shape)
        assert (np.abs(ours.astype(int) - theirs) > 2).mean() < 1e-3
        assert (theirs != small[i]).mean() > 0.002  # people were taken out, not the frame passed through


def test_faint_limbs_are_removed_too(app_bundle):
    """Pose2Sim camera 2, frame 55: the pose student places the raised left arm right but scores its wrist below
    VISIBLE. The character leaves that arm out, so the mask must take it (FAINT), or the real arm shows beside the
    character; the mask's scale still comes from the confident keypoints alone."""
    from animetool.data.footage import fetch_footage, read_frame
    from animetool_runtime import load
    from animetool_runtime.figure import VISIBLE
    from animetool_runtime.plate import FAINT
    from animetool_runtime.pose.estimator import PoseEstimator
    from animetool_runtime.pose.track import suppress

    frame = read_frame(fetch_footage(["pose2sim-single-cam02"])["pose2sim-single-cam02"], 55)
    person = suppress(PoseEstimator(load(app_bundle, "tflite", "int8", 2).model(task="pose"))(frame))[0]
    h, w = frame.shape[:2]
    faint = (person[:, 2] >= FAINT) & (person[:, 2] < VISIBLE)
    assert faint[9] and person[7, 2] >= VISIBLE  # the raised arm's wrist faint, its elbow sure
    mask = cells_to_pixels(person_mask([person], h, w), h, w)
    xy = person[:, :2].round().astype(int)
    assert (mask[xy[faint, 1], xy[faint, 0]] > 0.9).all()
    sure = person.copy()
    sure[faint, 2] = 0  # the same person without the faint keypoints: no mask there, and the same scale elsewhere
    without = cells_to_pixels(person_mask([sure], h, w), h, w)
    assert without[xy[9, 1], xy[9, 0]] < 0.1 and (mask >= without).all()
