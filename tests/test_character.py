"""The generator's data side: avatar renderer, pose fitting, conditioning maps, appearance read off a real frame."""
from __future__ import annotations

import base64
import colorsys
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from animetool.data.avatar import render
from animetool_runtime.blocks import Conditioning
from animetool_runtime.character import (APPEARANCE_FIELDS, COLOURS, CONDITIONING, CONDITIONING_CHANNELS, SKELETON, Appearance,
                                         appearance_from_vector, appearance_vector, conditioning, extract_appearance,
                                         fit_pose)
from animetool_runtime.figure import body_height
from animetool_runtime.layout import FACE_MAPS
from conftest import need

WEB = Path(__file__).resolve().parents[1] / "android_demo" / "web"

# A person facing the camera in a 256 canvas (their left on the image's right), arms down and slightly out.
STANDING = np.array([(128, 50), (134, 45), (122, 45), (140, 48), (116, 48), (150, 80), (106, 80), (165, 115), (91, 115),
                     (172, 150), (84, 150), (142, 140), (114, 140), (144, 185), (112, 185), (146, 228), (110, 228)],
                    np.float32)
STANDING = np.c_[STANDING, np.ones(17, np.float32)]
# The pose student on a held-out frame (Pose2Sim camera 2, frame 5, 1088x1920): a man facing the camera, both wrists
# labelled on the wrong side, so each "forearm" crosses his body.
SWAPPED = np.array([(569, 477, 0.32), (566, 466, 0.43), (561, 467, 0.45), (564, 456, 0.70), (553, 460, 0.70),
                    (655, 520, 0.37), (509, 539, 0.54), (699, 652, 0.48), (462, 651, 0.57), (421, 730, 0.48),
                    (735, 761, 0.69), (582, 773, 0.48), (578, 772, 0.72), (571, 905, 0.32), (579, 905, 0.57),
                    (568, 1071, 0.30), (564, 1073, 0.66)], np.float32)
LOOK = Appearance(skin=(0.95, 0.8, 0.7), hair=(0.9, 0.4, 0.6), top=(0.1, 0.3, 0.9), bottom=(0.2, 0.2, 0.25),
                  shoes=(0.9, 0.9, 0.9), hair_style="ponytail")


def test_render_is_deterministic_and_follows_the_appearance():
    img, alpha = render(STANDING, LOOK)
    again, alpha_again = render(STANDING.copy(), Appearance(**vars(LOOK)))
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8 and alpha.shape == (256, 256)
    assert img.tobytes() == again.tobytes() and alpha.tobytes() == alpha_again.tobytes()
    other, _ = render(STANDING, Appearance(top=(0.9, 0.2, 0.1), hair_style="spiky"))
    assert np.abs(other.astype(int) - img).max(-1).astype(bool).mean() > 0.05
    assert 0 <= alpha.min() and alpha.max() == 1 and 0 < alpha.mean() < 0.5
    background = render(STANDING, LOOK, background=(0.0, 1.0, 0.0))[0]
    assert tuple(background[0, 0]) == (0, 255, 0) and tuple(img[0, 0]) == (255, 255, 255)


def test_parts_are_drawn_at_their_keypoints():
    _, alpha = render(STANDING, LOOK)
    for j in (5, 6, 9, 10, 15, 16, 0, 1, 2):  # shoulders, wrists, ankles, face
        x, y = np.round(STANDING[j, :2]).astype(int)
        assert alpha[y - 1:y + 2, x - 1:x + 2].min() > 0.9, j
    rows = np.nonzero(alpha[:, 128] > 0.5)[0]
    assert 15 < STANDING[0, 1] - rows.min() < 60  # the head's top is a big head's height above the nose, not elsewhere
    assert alpha[:, :20].max() == 0 and alpha[:, -20:].max() == 0 and alpha[-15:].max() == 0


def test_a_limb_with_a_missing_keypoint_is_not_drawn():
    pose = STANDING.copy()
    pose[7, :2], pose[9] = (185, 80), (225, 80, 0.1)  # left arm held out, its wrist unseen
    _, alpha = render(pose, LOOK)
    assert alpha[75:86, 215:236].max() == 0
    assert alpha[78:83, 183:188].min() > 0.9  # the upper arm is still there


def test_far_side_is_drawn_behind_the_torso():
    pose = STANDING.copy()
    pose[0, 0] = 137  # face turned to the image's right: the person's left side is the far one
    pose[[7, 9], :2] = (165, 100), (125, 100)  # left forearm across the chest
    pose[[8, 10], :2] = (91, 125), (131, 125)  # right forearm across the belly
    img, _ = render(pose, LOOK)

    def nearer(pixel, a, b) -> bool:
        return np.abs(pixel / 255 - a).sum() < np.abs(pixel / 255 - b).sum()

    assert nearer(img[100, 140], LOOK.top, LOOK.skin)  # hidden behind the torso
    assert nearer(img[125, 115], LOOK.skin, LOOK.top)  # in front of it


def test_render_speed():
    rng = np.random.default_rng(0)
    poses = [STANDING + np.r_[rng.normal(0, 4, 2), 0] for _ in range(20)]
    render(STANDING, LOOK)
    start = time.perf_counter()
    for pose in poses:
        render(pose, LOOK)
    assert (time.perf_counter() - start) / len(poses) < 0.05


@pytest.fixture(scope="module")
def real_pose(small_data) -> np.ndarray:
    """A real person's pose: BlazePose on the Sports2D demo (the shared small_data fixture)."""
    from animetool.data.avatar_data import load_poses

    return load_poses(small_data, "train")[0]


def test_fit_pose_round_trip_and_fill(real_pose):
    canvas, matrix = fit_pose(real_pose, size=256, fill=0.8)
    back = canvas[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(back, real_pose[:, :2], atol=1e-3 * np.abs(real_pose[:, :2]).max())
    np.testing.assert_array_equal(canvas[:, 2], real_pose[:, 2])
    seen = canvas[real_pose[:, 2] >= 0.3, :2]
    extent = (seen.max(0) - seen.min(0)).max()
    assert 0.55 * 0.8 * 256 < extent <= 0.8 * 256
    np.testing.assert_allclose((seen.max(0) + seen.min(0)) / 2, 127.5, atol=1)
    upper = real_pose.copy()
    upper[11:, 2] = 0  # a close-up: hips and legs out of frame
    close, close_matrix = fit_pose(upper)
    assert 0.7 < matrix[0, 0] / close_matrix[0, 0] < 1.4  # scale from the shoulders/arms, not blown up to fill


def test_a_swapped_wrist_does_not_blow_the_character_up():
    """Characters were drawn three times the person's size (body height 1768 px for a 620 px man) when a left/right
    swap made a forearm cross the body: the longest-looking part set the size. Now parts that imply far more than the
    rest are left out."""
    seen = SWAPPED[SWAPPED[:, 2] >= 0.3, :2]
    box = float(np.ptp(seen, 0).max())
    assert box < body_height(SWAPPED) < 1.3 * box
    canvas = fit_pose(SWAPPED, 256)[0]
    extent = np.ptp(canvas[SWAPPED[:, 2] >= 0.3, :2], 0).max()
    assert 0.6 * 0.8 * 256 < extent <= 0.8 * 256  # the person fills the canvas as a whole person does
    honest = STANDING.copy()
    assert body_height(honest) == max(np.hypot(*(honest[a, :2] - honest[b, :2])) * k for a, b, k in
                                      ((13, 15, 3.6), (14, 16, 3.6), (11, 13, 3.6), (5, 7, 5.1), (7, 9, 6.0)))


def test_conditioning_maps():
    pose = STANDING.copy()
    pose[9, 2] = 0  # left wrist missing
    maps = conditioning(pose, LOOK, 256)
    assert maps.shape == (CONDITIONING_CHANNELS, 256, 256) and maps.dtype == np.float32
    assert CONDITIONING_CHANNELS == 17 + len(SKELETON) + len(APPEARANCE_FIELDS) + len(FACE_MAPS)
    for j in range(17):
        if j == 9:
            assert maps[j].max() == 0
            continue
        y, x = np.unravel_index(np.argmax(maps[j]), maps[j].shape)
        assert (x, y) == tuple(np.round(pose[j, :2]).astype(int)) and maps[j].max() > 0.9
    for e, (a, b) in enumerate(SKELETON):
        edge = maps[17 + e]
        if 9 in (a, b):
            assert edge.max() == 0
        else:
            x, y = np.round((pose[a, :2] + pose[b, :2]) / 2).astype(int)
            assert edge[y, x] > 0.8 and edge[0, 0] < 1e-3
    first = 17 + len(SKELETON)
    look = appearance_vector(LOOK)
    rest = maps[first + 3 * len(COLOURS):first + len(APPEARANCE_FIELDS)]
    np.testing.assert_array_equal(rest, np.broadcast_to(look[3 * len(COLOURS):, None, None], rest.shape))
    assert maps[-len(FACE_MAPS):].shape[0] == 2 and maps[0, 0].max() < 1e-3


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
def test_generator_fed_only_the_person_s_box_draws_the_same(app_bundle, small_data, backend):
    """animate quantizes and moves only the box conditioning(with_box=True) reports (TFLite takes int8 NHWC: half
    the work on a 256 canvas); the file sees the very same input, on real poses of every kind: whole, cut by the
    frame's edge, seen from behind, nobody at all."""
    from animetool.data.avatar_data import load_poses
    from animetool_runtime import load

    model = load(app_bundle, backend, "int8", 1).model(name="generator-student-256")
    poses = list(load_poses(small_data, "train")[:4]) + [STANDING, np.zeros((17, 3), np.float32)]
    edge = STANDING.copy()
    edge[:, 0] += 120  # half the person off the canvas's right edge
    areas = []
    for pose in poses + [edge]:
        canvas = pose if pose is STANDING or pose is edge or not pose.any() else fit_pose(pose, 256)[0]
        x, box = conditioning(canvas, LOOK, 256, with_box=True)
        np.testing.assert_array_equal(x, conditioning(canvas, LOOK, 256))
        whole, fed = model.run(x[None], layout="NCHW")[0], model.run(x[None], layout="NCHW", box=box)[0]
        np.testing.assert_array_equal(fed, whole)
        areas.append((box[1] - box[0]) * (box[3] - box[2]) / 256 ** 2)
    assert areas[-2] == 0 and max(areas) < 0.7  # nobody: no box; a person: a part of the canvas


@pytest.mark.parametrize("case", ["standing", "profile", "back", "short-trousers", "no-hips"])
def test_conditioning_lays_out_what_the_renderer_draws(case):
    """Each colour is painted where the renderer draws it and the face maps where it draws eyes and mouth."""
    pose, look = STANDING.copy(), LOOK
    if case == "profile":
        pose[[0, 1, 2], 0] += 16
        pose[3, 2] = 0
    elif case == "back":
        pose[[0, 1, 2], 2] = 0
        pose[[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]] = pose[[6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]]
    elif case == "short-trousers":
        look = Appearance(**{**vars(LOOK), "long_trousers": False, "hair_style": "long"})
    elif case == "no-hips":
        pose[11:, 2] = 0
    maps = conditioning(pose, look, 256)
    img, alpha = render(pose, look)
    first = 17 + len(SKELETON)
    cover = maps[first:first + 15].reshape(5, 3, 256, 256).max(1)
    cover = cover / np.maximum(np.array([getattr(look, c) for c in COLOURS]).max(1), 1e-6)[:, None, None]
    silhouette = cover.sum(0) > 0.5
    assert (silhouette & (alpha > 0.5)).sum() / (silhouette | (alpha > 0.5)).sum() > 0.85
    for c, colour in enumerate(COLOURS):
        solid = cover[c] > 0.98
        if solid.sum() < 20:
            assert colour in ("shoes", "bottom") and case == "no-hips", (colour, solid.sum())
            continue
        drawn = np.median(img[solid] / 255, 0)  # lit tone, shadow tone (x0.78) or the eyes' detail: the lit tone wins
        assert np.abs(drawn - getattr(look, colour)).max() < 0.12, (colour, drawn, getattr(look, colour))
    # the head laid out as the renderer draws it (since layout 3: its polygons, the fringe's bangs and the chin): every pixel
    # drawn in the hair's or the skin's lit tone near the face lies under that colour's mask (layout 2: 91% of the skin)
    head = np.zeros(alpha.shape, bool)
    (x0, y0), (x1, y1) = pose[:5, :2].min(0) - 40, pose[:5, :2].max(0) + 40
    head[int(y0):int(y1), int(x0):int(x1)] = True
    for c, colour in ((1, "hair"),) + (((0, "skin"),) if case != "back" else ()):  # from behind: hair
        drawn = head & (np.abs(img / 255 - getattr(look, colour)).max(-1) < 0.03)
        assert drawn.sum() > 200 and (cover[c][drawn] > 0.5).mean() > 0.995, (colour, (cover[c][drawn] > 0.5).mean())
    eyes, mouth = maps[-2] > 0.2, maps[-1] > 0.9  # eyes: white 1, iris 0.6, pupil 0.25
    if case == "back":
        assert not eyes.any() and not mouth.any()
        return
    skin = np.abs(img / 255 - look.skin).max(-1) < 0.05
    assert eyes.sum() > 20 and skin[eyes].mean() < 0.3 and skin[maps[first] > 0.9 * look.skin[0]].mean() > 0.5
    assert 0 < mouth.sum() and skin[mouth].mean() < 0.9
    iris = np.abs(maps[-2] - 0.6) < 0.05  # the eyes map draws the iris, which the renderer paints from the hair
    drawn = np.median(img[iris] / 255, 0)
    want = np.clip(np.asarray(look.hair) * 0.9 + 0.08, 0, 1)
    assert iris.sum() >= 4 and np.abs(drawn - want).max() < np.abs(drawn - look.skin).max(), (drawn, want)
    # layout 4: the hair's colour is painted on the eyes, so the net finds it where it draws the iris
    assert np.median(cover[1][iris]) > 0.9 and np.median(cover[0][iris]) < 0.1


def test_web_app_conditioning_is_the_runtime_s(real_pose):
    """lib/character.js (the phone app) builds the same 60 maps as the runtime, on real, turned and partial poses."""
    need(("node",))
    poses = {"standing": STANDING, "real": fit_pose(real_pose, 128)[0], "swapped": fit_pose(SWAPPED, 128)[0]}
    profile, partial = STANDING.copy(), STANDING.copy()
    profile[[0, 1, 2], 0] += 16
    profile[3, 2] = 0
    partial[[3, 4, 11, 12, 15], 2] = 0
    poses.update(profile=profile, partial=partial)
    looks = [LOOK, Appearance(hair_style="spiky", long_trousers=False, outline=0.1), Appearance(hair_style="long"),
             Appearance(hair_style="bob")]
    # the last look's maps in the groups' reverse order: both write each group where the bundle's block puts it
    shuffled = Conditioning(CONDITIONING.layout, CONDITIONING.groups[::-1])
    cases = [(name, pose, look, size, CONDITIONING if i < 3 else shuffled) for name, pose in poses.items()
             for i, (look, size) in enumerate(zip(looks, (256, 128, 96, 128)))]
    script = """
import {CONDITIONING, conditioning} from "./lib/character.js";
import {readFileSync} from "fs";
process.stdout.write(JSON.stringify(CONDITIONING) + "\\n");
for (const c of JSON.parse(readFileSync(0, "utf8"))) {
  const out = conditioning(c.pose, c.look, c.size, c.block);
  process.stdout.write(Buffer.from(out.buffer).toString("base64") + "\\n");
}
"""
    payload = [{"pose": pose.tolist(), "look": {**vars(look), "long_trousers": look.long_trousers}, "size": size,
                "block": block.to_dict()} for _, pose, look, size, block in cases]
    proc = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps(payload), cwd=WEB,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    described, *lines = proc.stdout.split()
    assert json.loads(described) == CONDITIONING.to_dict()
    for (name, pose, look, size, block), line in zip(cases, lines, strict=True):
        theirs = np.frombuffer(base64.b64decode(line), np.float32).reshape(CONDITIONING_CHANNELS, size, size)
        mine = conditioning(pose, look, size, block=block)
        assert np.abs(mine - theirs).max() < 1e-4, (name, size, np.unravel_index(np.abs(mine - theirs).argmax(), mine.shape))


def test_one_coco_layout_for_models_toolchain_and_runtime():
    """models/coco.py is the home of the COCO facts; the runtime's copy (it never imports torch) and the mirror agree."""
    from animetool.models.coco import COCO_FLIP, COCO_KEYPOINTS, COCO_SKELETON

    assert [tuple(e) for e in COCO_SKELETON] == list(SKELETON)
    mirror = [n.replace("left", "RIGHT").replace("right", "left").replace("RIGHT", "right") for n in COCO_KEYPOINTS]
    assert [COCO_KEYPOINTS[i] for i in COCO_FLIP] == mirror


def test_appearance_vector_round_trip():
    v = appearance_vector(LOOK)
    assert v.shape == (len(APPEARANCE_FIELDS),) and v[APPEARANCE_FIELDS.index("hair_ponytail")] == 1
    back = appearance_from_vector(v)
    assert back.hair_style == "ponytail" and back.long_trousers == LOOK.long_trousers
    np.testing.assert_allclose(appearance_vector(back), v, atol=1e-6)


def test_appearance_of_real_people():
    from animetool.data.footage import fetch_footage, read_frame
    from animetool.data.teachers import BlazePoseTeacher

    frame = read_frame(fetch_footage(["pose2sim-multi-cam01"])["pose2sim-multi-cam01"], 0)
    people = BlazePoseTeacher("full", threads=1)(frame)
    assert len(people) == 2
    # The woman stands nearer the camera (her ankles lower in the frame), the shirtless man walks behind her.
    woman, man = sorted(people, key=lambda p: -p[15:17, 1].max())
    her, his = extract_appearance(frame, woman), extract_appearance(frame, man)
    _, sat, val = colorsys.rgb_to_hsv(*her.top)
    assert val > 0.55 and sat < 0.15  # white / light-grey T-shirt
    assert her.bottom[2] > her.bottom[0]  # blue jeans
    assert max(his.bottom) < 0.3  # black shorts
    assert not his.long_trousers and her.long_trousers  # his shins are bare, hers in jeans
    r, g, b = his.top
    assert r > g > b and r > 0.35  # bare skin
    assert extract_appearance(frame, np.zeros((17, 3), np.float32)) == Appearance()  # nothing seen: the defaults
