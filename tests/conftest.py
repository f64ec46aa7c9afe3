"""Shared fixtures: one real bundle of every registered model x target x precision, exported once per session."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 2.0  # of real footage for the animate tests


def animetool(*args: str, check: bool = True, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would (env: variables added to this process's)."""
    env = dict(os.environ, COLUMNS="200", **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "animetool.cli", *args], capture_output=True, text=True, env=env, **{"timeout": 1800, **kw})
    if check and proc.returncode != 0:
        raise AssertionError(f"animetool {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def need(tools) -> None:
    """Skip without these programs or files (Debian packages .ci/run installs); fail instead under
    ANIMETOOL_REQUIRE_TOOLS=1, which CI sets, so a missing tool cannot turn a test green by skipping it."""
    missing = [t for t in tools if not (Path(t).exists() if t.startswith("/") else shutil.which(t))]
    if missing and os.environ.get("ANIMETOOL_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{', '.join(missing)} missing, and ANIMETOOL_REQUIRE_TOOLS=1 (.ci/run installs them)")
    if missing:
        pytest.skip(f"{', '.join(missing)} missing (see .ci/run for the apt-get line)")


def small_bundle(tmp_path_factory) -> Path:
    """generator-standin to onnx + tflite at fp32 + int8, exported once per session (shared by name with the other files)."""
    out = tmp_path_factory.getbasetemp() / "small-generator-onnx-tflite"
    if not out.exists():  # the export is atomic: the folder exists only when complete
        animetool("export", "generator-standin", "-t", "onnx,tflite", "-p", "fp32,int8", "-o", str(out))
    return out


@pytest.fixture(scope="session")
def app_bundle(tmp_path_factory) -> Path:
    """The default models (pose student, 128 and 256 px generators) to ONNX, TFLite and OpenVINO at fp32 and int8,
    checked against PyTorch by export itself: what animate, the runtime alone, the web app, the APK and the int8
    portability tests run. The exhaustive model x target x precision matrix is test_export's, behind `slow`."""
    out = tmp_path_factory.mktemp("app") / "bundle"
    animetool("export", "-t", "onnx,tflite,openvino", "-p", "fp32,int8", "-o", str(out))
    return out


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """Six real frames of the Sports2D demo with BlazePose's pseudo-labels (fetched from registry packages, cached)."""
    from animetool.data.poses import build

    out = tmp_path_factory.mktemp("posedata")
    build(["sports2d-demo"], "blazepose", out, every=20, limit=6)
    return out


def cut(src: Path, dst: Path, seconds: float) -> Path:
    """The first seconds of a video, re-encoded, with the audio of that span copied."""
    from animetool_runtime.video import Reader, Writer

    reader = Reader(src)
    writer = Writer(dst, reader.width, reader.height, reader.fps, reader.audio)
    limit = round(seconds * reader.fps)

    def audio(packet) -> None:
        if packet.pts is not None and packet.pts * packet.time_base < seconds:
            writer.mux_audio(packet)

    for i, rgb in enumerate(reader.frames(on_audio=audio)):
        if i >= limit:
            break
        writer.write(rgb)
    writer.close()
    reader.close()
    return dst


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """The first two seconds of the Sports2D demo (two people, with audio), cut at test time."""
    from animetool.data.footage import fetch_sports2d_demo

    return cut(fetch_sports2d_demo(), tmp_path_factory.mktemp("clip") / "sports2d-2s.mp4", SECONDS)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Fast tests first, the `slow` matrix last (a stable sort, after pytest grouped tests by fixture parameter), so a
    newcomer's first results do not wait for the exhaustive export. `-m "not slow"` leaves the matrix out."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


def pytest_sessionfinish(session, exitstatus) -> None:
    session.config.stash[EXIT] = int(exitstatus)


EXIT = pytest.StashKey[int]()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """Leave as soon as the summary is printed: a native thread a library leaves behind (FFmpeg, XNNPACK, OpenVINO)
    must not hold a finished run at interpreter exit, where nothing buffered is flushed and CI sees only a timeout."""
    if EXIT in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[EXIT])
