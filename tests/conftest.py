"""Shared fixtures: one real bundle of every registered model x target x precision, exported once per session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 2.0  # of real footage for the animate tests


def animetool(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.run([sys.executable, "-m", "animetool.cli", *args], capture_output=True, text=True, env=env, **{"timeout": 1800, **kw})
    if check and proc.returncode != 0:
        raise AssertionError(f"animetool {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def small_bundle(tmp_path_factory) -> Path:
    """generator-standin to onnx + tflite at fp32 + int8, exported once per session (shared by name with the other files)."""
    out = tmp_path_factory.getbasetemp() / "small-generator-onnx-tflite"
    if not out.exists():  # the export is atomic: the folder exists only when complete
        animetool("export", "generator-standin", "-t", "onnx,tflite", "-p", "fp32,int8", "-o", str(out))
    return out


@pytest.fixture(scope="session")
def full_bundle(tmp_path_factory) -> Path:
    """Every registered model to every target at every precision it offers (Core ML: all five)."""
    from animetool.models import list_models

    out = tmp_path_factory.mktemp("bundle") / "all"
    animetool("export", *list_models(), "-t", "all", "-p", "fp32,fp16,int8,w8,palette4", "-o", str(out))
    return out


@pytest.fixture(scope="session")
def verified(full_bundle) -> dict:
    """animetool verify on the full bundle; its JSON keyed by model/format/precision."""
    proc = animetool("verify", str(full_bundle), "--json", check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["key"]: r for r in json.loads(proc.stdout)}


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """Six real frames of the Sports2D demo with BlazePose's pseudo-labels (fetched from registry packages, cached)."""
    from animetool.data import build

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
    from animetool.footage import fetch_sports2d_demo

    return cut(fetch_sports2d_demo(), tmp_path_factory.mktemp("clip") / "sports2d-2s.mp4", SECONDS)


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
