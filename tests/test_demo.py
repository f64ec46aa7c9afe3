"""The phone web app in real headless Chromium (phone profile) against the Python runtime, and `animetool demo`.

Needs Debian's chromium and Node.js (the app's npm packages are installed by `npm ci` on first use), and for the APK
Debian's aapt, zipalign, apksigner, libsmali-java and android-framework-res. Without them these tests skip, unless
ANIMETOOL_REQUIRE_TOOLS=1 (set by .ci/run, which installs them), where a missing tool fails them.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from animetool_runtime.animate import Animator
from animetool_runtime.bundle import load
from animetool_runtime.pose.track import suppress, untangle
from animetool_runtime.video import Reader
from conftest import ROOT, need, small_bundle

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
WEB = ROOT / "android_demo" / "web"
ARTIFACTS = ROOT / "artifacts"  # CI keeps what lands here (git-ignored)
FRAMES = range(40, 45)  # of the 2 s clip: both people in view
SIZE = 128
# JS vs Python tolerances: the two runtimes' int8 kernels may differ by one step on a few heatmap cells, which moves a
# keypoint to another cell where the decoder faced a near-tie, and drawings by the int8 bar verify sets (30 dB).
KEYPOINT_PX, KEYPOINTS_WITHIN, APPEARANCE, DRAWING_DB, FRAME_DB = 1.0, 0.95, 0.02, 30.0, 35.0

APK_TOOLS = ("aapt", "zipalign", "apksigner", "keytool", "/usr/share/java/smali.jar",
             "/usr/share/android-framework-res/framework-res.apk")


@pytest.fixture(autouse=True)
def browser_tools(request):
    if "apk" not in request.node.name:
        need((CHROMIUM, "node", "npm"))


@pytest.fixture(scope="module")
def server(app_bundle):
    from animetool.demo import serve

    srv = serve(app_bundle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()


def harness(args: dict, tmp: Path) -> dict:
    """Run the Chromium harness; its findings, with its `N passed, N failed` line checked."""
    args = {**args, "out": str(tmp / f"{args['mode']}-{args['backend']}.json")}
    proc = subprocess.run(["node", "tests/harness.mjs", json.dumps(args)], cwd=WEB, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, CHROMIUM=CHROMIUM))
    print(proc.stdout)
    result = json.loads(Path(args["out"]).read_text())
    failed = [c for c in result["checks"] if not c["ok"]]
    assert proc.returncode == 0 and not failed, (failed, proc.stderr[-2000:], result["logs"][-20:])
    assert proc.stdout.strip().splitlines()[-1] == f"{len(result['checks'])} passed, 0 failed"
    return result


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 120.0 if mse == 0 else 10 * np.log10(peak ** 2 / mse)


@pytest.fixture(scope="module")
def frames(clip, tmp_path_factory) -> list[Path]:
    """Exact RGB frames of the clip as raw files: both sides read the same bytes, no video decoder in between."""
    folder = tmp_path_factory.mktemp("frames")
    reader = Reader(clip)
    paths = []
    for i, rgb in enumerate(reader.frames()):
        if i in FRAMES:
            paths.append(folder / f"{i}.rgb")
            paths[-1].write_bytes(np.ascontiguousarray(rgb).tobytes())
            shape = rgb.shape
        if i >= max(FRAMES):
            break
    reader.close()
    (folder / "shape.json").write_text(json.dumps(shape))
    return paths


@pytest.mark.parametrize("backend,size", [("onnx", SIZE), ("tflite", SIZE), ("onnx", 256), ("tflite", 256)])
def test_browser_matches_the_python_runtime_on_real_frames(backend, size, server, frames, app_bundle, tmp_path):
    """Both generators: the 256 px one (the app's default) draws through a depth-to-space output layer."""
    h, w, _ = json.loads((frames[0].parent / "shape.json").read_text())
    got = harness({"url": server, "mode": "parity", "backend": backend, "size": size, "frames": [str(p) for p in frames],
                   "width": w, "height": h}, tmp_path)["frames"]
    pose_key, gen_key = got["models"]["pose"], got["models"]["generator"]
    precision = pose_key.split("/")[2]
    assert gen_key == f"generator-student{'-256' if size == 256 else ''}/{backend}/{precision}"
    # onnx runs the int8 files; LiteRT.js has no int8 tensors, so the app says so and takes fp32 (its fastest)
    assert precision == ("int8" if backend == "onnx" else "fp32"), got
    assert backend == "onnx" or any("no int8 tensors" in s for s in got["skipped"]), got["skipped"]

    animator = Animator(load(app_bundle, backend, precision), 30.0, size=size)
    assert (animator.pose.entry.key, animator.generator.entry.key) == (pose_key, gen_key)
    errors, worst = [], {"appearance": 0.0, "drawing_db": 120.0, "frame_db": 120.0}
    for path, js in zip(frames, got["frames"]):
        rgb = np.frombuffer(path.read_bytes(), np.uint8).reshape(h, w, 3)
        people = [untangle(p) for p in suppress(animator.pose(rgb))[:animator.max_people]]
        drawings, remove, stats = animator(rgb.copy())
        out = animator.compose(rgb.copy(), drawings, remove)
        assert len(people) >= 2 and len(js["people"]) == len(people)
        for mine, theirs in zip(people, np.array(js["people"], np.float32)):
            seen = mine[:, 2] >= 0.3
            errors += list(np.abs(mine[seen, :2] - theirs[seen, :2]).max(1))
        tracks = sorted(animator.tracker.tracks, key=lambda t: t.id)
        assert [t["id"] for t in js["tracks"]] == [t["id"] for t in stats["tracks"]]
        for t in js["tracks"]:
            mine = next(tr for tr in tracks if tr.id == t["id"])
            worst["appearance"] = max(worst["appearance"], float(np.abs(mine.appearance - np.array(t["appearance"])).max()))
        for (_, rgba, matrix), d in zip(sorted(drawings, key=lambda d: d[0]), sorted(js["drawings"], key=lambda d: d["matrix"][1][2])):
            theirs = np.frombuffer(base64.b64decode(d["rgba"]), np.float32).reshape(rgba.shape)
            worst["drawing_db"] = min(worst["drawing_db"], psnr(rgba, theirs, 1.0))
        theirs = np.frombuffer(base64.b64decode(js["composite"]), np.uint8).reshape(out.shape)
        worst["frame_db"] = min(worst["frame_db"], psnr(out, theirs, 255.0))
    errors = np.array(errors)
    worst.update(keypoints=len(errors), within_px=float((errors <= KEYPOINT_PX).mean()), median_px=float(np.median(errors)))
    print(backend, precision, worst)
    assert worst["within_px"] >= KEYPOINTS_WITHIN and worst["median_px"] <= 0.05 and worst["appearance"] <= APPEARANCE, worst
    assert worst["drawing_db"] >= DRAWING_DB and worst["frame_db"] >= FRAME_DB, worst


@pytest.fixture(scope="module")
def camera(clip, tmp_path_factory) -> Path:
    """The clip as Chromium's fake camera file, made at test time."""
    from animetool.demo import fake_camera

    return fake_camera(clip, tmp_path_factory.mktemp("camera") / "sports2d.y4m")


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_app_on_a_phone_profile_animates_the_camera_a_video_file_and_works_offline(backend, server, camera, clip, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"demo-{backend}.png"
    result = harness({"url": server, "mode": "camera", "backend": backend, "size": SIZE, "camera": str(camera),
                      "video": str(clip), "screenshot": str(shot)}, tmp_path)
    state = result["state"]
    assert state["canvas"] == [640, 360] and state["models"]["pose"].startswith(f"pose-student-s/{backend}/")
    assert shot.stat().st_size > 10_000


def test_demo_command_serves_the_app_and_the_bundle(app_bundle):
    proc = subprocess.Popen([sys.executable, "-m", "animetool.cli", "demo", str(app_bundle), "--host", "127.0.0.1",
                             "--port", "0", "--json"], stdout=subprocess.PIPE, text=True)
    try:
        urls = json.loads(proc.stdout.readline())
        manifest = json.loads(urllib.request.urlopen(urls["local"] + "bundle/manifest.json", timeout=30).read())
        assert manifest == json.loads((app_bundle / "manifest.json").read_text())
        page = urllib.request.urlopen(urls["local"], timeout=30)
        assert b"app.js" in page.read() and page.headers["Cache-Control"] == "no-cache"
        wasm = urllib.request.urlopen(urls["local"] + "node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm", timeout=30)
        assert wasm.headers["Content-Type"] == "application/wasm"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_demo_command_names_a_missing_bundle(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "animetool.cli", "demo", str(tmp_path / "nope")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file or folder"


def test_apk_builds_signs_and_verifies_with_debian_tools(app_bundle, tmp_path):
    need(APK_TOOLS)
    from animetool.demo import web_root

    web_root()  # npm ci once: the APK carries the runtimes' files
    apk = tmp_path / "animetool-demo.apk"
    proc = subprocess.run(["bash", str(ROOT / "android_demo/android/build.sh"), str(app_bundle), str(apk)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert subprocess.run(["apksigner", "verify", "--verbose", str(apk)], capture_output=True, text=True,
                          timeout=120).stdout.count("true") >= 2  # v1 and v2 schemes
    badging = subprocess.run(["aapt", "dump", "badging", str(apk)], capture_output=True, text=True, timeout=120).stdout
    assert "package: name='com.animetool.demo'" in badging and "uses-permission: name='android.permission.CAMERA'" in badging
    assert "launchable-activity: name='com.animetool.demo.MainActivity'" in badging
    with zipfile.ZipFile(apk) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("assets/web/bundle/manifest.json"))
        assert {"classes.dex", "assets/web/index.html", "assets/web/lib/runtime.js",
                "assets/web/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm"} <= names
        assert {e["format"] for e in manifest["models"]} == {"onnx", "tflite"}
        for e in manifest["models"]:
            info = z.getinfo(f"assets/web/bundle/{e['file']}")
            assert info.compress_type == zipfile.ZIP_STORED and hashlib.sha256(z.read(info)).hexdigest() == e["sha256"]
    dex = subprocess.run(["java", "-jar", "/usr/share/java/baksmali.jar", "list", "classes", str(apk)],
                         capture_output=True, text=True, timeout=120).stdout.split()
    assert sorted(dex) == ["Lcom/animetool/demo/AssetClient;", "Lcom/animetool/demo/CameraGrant;",
                           "Lcom/animetool/demo/MainActivity;"]


def test_apk_build_names_a_folder_that_is_not_a_bundle(tmp_path):
    need(APK_TOOLS)
    proc = subprocess.run(["bash", str(ROOT / "android_demo/android/build.sh"), str(tmp_path), str(tmp_path / "x.apk")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == f"{tmp_path}: no manifest.json (not an animetool bundle folder)"
    assert not (tmp_path / "x.apk").exists()


def test_demo_and_apk_refuse_a_manifest_that_names_files_outside_the_bundle(tmp_path, tmp_path_factory):
    """Neither the demo server nor the APK build reads a file the manifest places outside its bundle."""
    from animetool.demo import DemoError, serve

    bundle = Path(shutil.copytree(small_bundle(tmp_path_factory), tmp_path / "bundle"))
    (tmp_path / "secret.onnx").write_bytes(b"not yours")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["models"][0]["file"] = "../secret.onnx"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DemoError, match="outside the bundle"):
        serve(bundle, "127.0.0.1", 0)
    need(APK_TOOLS)
    apk = tmp_path / "x.apk"
    proc = subprocess.run(["bash", str(ROOT / "android_demo/android/build.sh"), str(bundle), str(apk)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "not a file inside the bundle" in proc.stderr and not apk.exists(), proc.stderr[-2000:]
