"""Shared fixtures: the default models' real bundle, real frames and a real clip, each made once per test run.

The suite runs on every core (pytest-xdist, `-n logical` in pyproject.toml): each session fixture is made by the first
worker that needs it while the others wait on its file lock (`shared`), and a module's tests stay on one worker when
they share a module fixture (`xdist_group`, set below)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from filelock import FileLock

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


def shared(tmp_path_factory, name: str, make: Callable[[Path], object]) -> Path:
    """The path `name` in the test run's temporary folder, made once by make(path) for all workers of the run: the
    first to ask makes it under a file lock, the others wait and reuse it. make must create path atomically (write
    elsewhere, then rename), so a path that exists is complete."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's basetemp is a folder of the run's
        root = root.parent
    out = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not out.exists():
            make(out)
    return out


def small_bundle(tmp_path_factory) -> Path:
    """generator-standin to onnx + tflite at fp32 + int8, exported once per test run (shared by name with the other files)."""
    return shared(tmp_path_factory, "small-generator-onnx-tflite", lambda out: animetool(
        "export", "generator-standin", "-t", "onnx,tflite", "-p", "fp32,int8", "-o", str(out)))  # export is atomic


@pytest.fixture(scope="session")
def app_bundle(tmp_path_factory) -> Path:
    """The default models (pose student, 128 and 256 px generators) to ONNX, TFLite and OpenVINO at fp32 and int8,
    checked against PyTorch by export itself: what animate, the runtime alone, the web app, the APK and the int8
    portability tests run. The exhaustive model x target x precision matrix is test_export's, behind `slow`."""
    return shared(tmp_path_factory, "app-bundle", lambda out: animetool(
        "export", "-t", "onnx,tflite,openvino", "-p", "fp32,int8", "-o", str(out)))


def _renamed(make: Callable[[Path], object]) -> Callable[[Path], None]:
    """make(path) for a maker that writes in place: it writes beside path, which appears only when complete
    (runtime.atomic.atomic_path does not fit: its temporary name changes the suffix a video writer reads, and it
    removes files, not the folder `animetool data` writes)."""
    def atomic(out: Path) -> None:
        part = out.with_name(f"part-{out.name}")  # the same suffix: a video writer reads the format from it
        if part.is_dir():  # what a killed run left
            shutil.rmtree(part)
        part.unlink(missing_ok=True)
        make(part)
        part.rename(out)
    return atomic


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """Six real frames of the Sports2D demo with BlazePose's pseudo-labels (fetched from registry packages, cached)."""
    from animetool.data.poses import build

    return shared(tmp_path_factory, "posedata", _renamed(
        lambda out: build(["sports2d-demo"], "blazepose", out, every=20, limit=6)))


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

    return shared(tmp_path_factory, "sports2d-2s.mp4", _renamed(lambda out: cut(fetch_sports2d_demo(), out, SECONDS)))


def pytest_itemcollected(item) -> None:
    """Under pytest-xdist's loadgroup: a test that uses a module-scoped fixture runs on its module's worker (the fixture
    is made once), and the slow matrix's tests of one model on one worker (its export is made once); every other test
    goes to whichever worker is free."""
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    model = getattr(getattr(item, "callspec", None), "params", {}).get("model_matrix")
    if model is not None:
        item.add_marker(pytest.mark.xdist_group(f"matrix-{model}"))
    elif any(d.scope == "module" for ds in defs.values() for d in ds):
        item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Fast tests first, the `slow` matrix last (a stable sort, after pytest grouped tests by fixture parameter), so a
    newcomer's first results do not wait for the exhaustive export. `-m "not slow"` leaves the matrix out."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
    if getattr(config.option, "loadgroup", False) and any(i.get_closest_marker("xdist_group") and "@" not in i.nodeid for i in items):
        raise pytest.UsageError("pytest-xdist's loadgroup did not group the tests (pytest 9 ignores the node ids it "
                                "sets): install the test extra's pytest, or run with -n 0")


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
