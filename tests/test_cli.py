"""The command lines as a user runs them: help of every command, models, bench (both CLIs), user factories and checkpoints."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from animetool.models import list_models
from animetool_runtime.manifest import Manifest
from animetool_runtime.parity import TOLERANCES, headline
from conftest import animetool, small_bundle

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SMALL_KEYS = {f"generator-standin/{t}/{p}" for t in ("onnx", "tflite") for p in ("fp32", "int8")}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return small_bundle(tmp_path_factory)


def runtime_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "animetool_runtime", *args], capture_output=True, text=True, **{"timeout": 600, **kw})


HELP = {
    (): ["export", "lint", "verify", "bench", "models", "--help"],
    ("export",): ["--target", "-t", "--precision", "-p", "--calib", "--input-shape", "--imgsz", "--keep-float", "--out", "-o", "--json"],
    ("lint",): ["model", "--input-shape", "--calib", "--samples", "--json"],
    ("verify",): ["bundle", "--layers", "--model", "--plot", "--json"],
    ("bench",): ["bundle", "--backend", "--threads", "--runs", "--warmup", "--save", "--json"],
    ("models",): ["--json"],
}


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: " ".join(c) or "animetool")
def test_help(command):
    proc = animetool(*command, "--help")
    text = ANSI.sub("", proc.stdout)
    assert "Usage:" in text
    for option in HELP[command]:
        assert option in text, (option, text)


@pytest.mark.parametrize("command,options", [
    ((), ["bench"]),
    (("bench",), ["bundle", "--backend", "--threads", "--runs", "--warmup", "--json"]),
], ids=["runtime", "runtime bench"])
def test_runtime_help(command, options):
    proc = runtime_cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: animetool-runtime")
    for option in options:
        assert option in proc.stdout, (option, proc.stdout)


@pytest.mark.parametrize("name", ["animate", "bench"])
def test_both_command_lines_share_one_option_table(name):
    """`animetool X` and `python -m animetool_runtime X` take the same options with the same defaults and help, all
    from animetool_runtime.commands (one home), and end the same way: one `error:` line and exit code 2."""
    import argparse

    import typer.main

    from animetool.cli import app
    from animetool_runtime.__main__ import parser
    from animetool_runtime.commands import ANIMATE, BAD_INPUT, BENCH

    table = {"animate": ANIMATE, "bench": BENCH}[name]
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    runtime = {a.dest: a for a in sub._actions if a.option_strings and a.dest != "help"}
    toolchain = {("json" if p.name == "as_json" else p.name): p
                 for p in typer.main.get_command(app).commands[name].params if p.param_type_name == "option"}
    assert set(table) <= set(runtime) and set(table) <= set(toolchain), (set(table), set(runtime), set(toolchain))
    for key, opt in table.items():
        assert runtime[key].default == toolchain[key].default == opt.default, key
        assert opt.help in runtime[key].help and opt.help in toolchain[key].help, key
    proc = runtime_cli(name, "no-such-bundle" if name == "bench" else "no-such.mp4", *(["-o", "x.mp4"] if name == "animate" else []),
                       "--threads", "two")
    assert proc.returncode == BAD_INPUT and proc.stderr.strip().splitlines()[-1].startswith("error: "), proc.stderr


def test_console_scripts():
    """The installed entry points, as a user types them."""
    bindir = Path(sys.executable).parent
    for script, usage in (("animetool", "Usage: animetool"), ("animetool-runtime", "usage: animetool-runtime")):
        proc = subprocess.run([str(bindir / script), "--help"], capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"), timeout=120)
        assert proc.returncode == 0 and usage in ANSI.sub("", proc.stdout), proc.stdout + proc.stderr


def test_version():
    from animetool import __version__

    assert animetool("--version").stdout.strip().startswith(f"animetool {__version__} (animetool-runtime ")


def test_tables_keep_their_width_in_a_log():
    """Piped into a log (no terminal, no COLUMNS), tables keep whole names instead of rich's 80 columns and cut cells."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.run([sys.executable, "-m", "animetool.cli", "models"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in list_models():
        assert f" {name} " in proc.stdout, proc.stdout


def test_models_json():
    rows = json.loads(animetool("models", "--json").stdout)
    assert {r["name"] for r in rows} == set(list_models())
    assert {r["name"] for r in rows if r["default"]} == {"pose-student-s", "generator-student", "generator-student-256"}
    for r in rows:
        assert r["task"] in ("pose", "generator") and len(r["input"]) == 4
        assert r["weights"].endswith(".safetensors")


def _check_row(row: dict) -> None:
    assert row["status"] == "ok", row
    assert row["p50_ms"] > 0 and row["p90_ms"] >= row["p50_ms"] and row["fps"] > 0
    assert row["peak_rss_mb"] > 0 and row["size_mb"] > 0 and row["backend_version"]
    tol = TOLERANCES[row["precision"]]
    assert row["parity"]["rel_max"] <= tol["max"] and row["parity"]["rel_mean"] <= tol["mean"]
    assert row["parity"]["psnr_db"] >= 30  # generator: its task metric


def _check_device(device: dict) -> None:
    assert device["cpu"] and device["cores"] >= 1 and device["os"] and device["python"].count(".") == 2
    assert {"numpy", "onnxruntime", "ai-edge-litert"} <= set(device["packages"])


def test_bench_json(small):
    result = json.loads(animetool("bench", str(small), "--json", "--runs", "3", "--warmup", "1").stdout)
    _check_device(result["device"])
    assert result["runs"] == 3
    rows = result["rows"]
    assert sorted(f"{r['model']}/{r['format']}/{r['precision']}" for r in rows) == sorted(SMALL_KEYS)
    for row in rows:
        assert row["threads"] == 1 and row["backend"] == {"onnx": "onnxruntime", "tflite": "litert"}[row["format"]]
        _check_row(row)
    verified = {r["key"]: r for r in json.loads(animetool("verify", str(small), "--json").stdout)}
    for row in rows:  # the same figures for the same file, whichever command prints them
        assert row["parity"] == headline(verified[f"{row['model']}/{row['format']}/{row['precision']}"]), row


def test_runtime_bench_json_threads(small):
    proc = runtime_cli("bench", str(small), "--json", "--runs", "3", "--warmup", "1", "--threads", "1,2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    _check_device(result["device"])
    rows = result["rows"]
    assert sorted((f"{r['model']}/{r['format']}/{r['precision']}", r["threads"]) for r in rows) == \
        sorted((k, n) for k in SMALL_KEYS for n in (1, 2))
    for row in rows:
        _check_row(row)


def test_export_user_factory(tmp_path, monkeypatch):
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        def tiny_net():
            torch.manual_seed(0)
            net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            net[1].running_mean.uniform_(-0.1, 0.1)
            net[1].running_var.uniform_(0.5, 1.5)
            return net.eval()
    """))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    out = tmp_path / "bundle"
    animetool("export", "userpkg.nets:tiny_net", "--input-shape", "1,3,32,32", "-t", "onnx,tflite", "-p", "fp32,int8",
              "-o", str(out))
    manifest = Manifest.read(out / "manifest.json")
    assert {e.key for e in manifest.models} == {f"tiny-net/{t}/{p}" for t in ("onnx", "tflite") for p in ("fp32", "int8")}
    for e in manifest.models:
        assert e.source["architecture"] == "userpkg.nets:tiny_net" and e.preprocess.size == (32, 32)
        assert e.outputs[0].shape == ([1, 8, 32, 32] if e.format == "onnx" else [1, 32, 32, 8])
    proc = animetool("verify", str(out), "--json", check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {r["key"]: r["status"] for r in json.loads(proc.stdout)} == {e.key: "ok" for e in manifest.models}


def test_export_safetensors_checkpoint(tmp_path):
    from safetensors.torch import save_file

    from animetool.models import create_model

    ckpt = tmp_path / "my-generator.safetensors"
    state = {k: v.contiguous() for k, v in create_model("generator-standin").state_dict().items()}
    save_file(state, str(ckpt), metadata={"arch": "generator-standin", "licence": "Apache-2.0"})
    out = tmp_path / "bundle"
    animetool("export", str(ckpt), "-t", "onnx", "-p", "fp32", "-o", str(out))
    (entry,) = Manifest.read(out / "manifest.json").models
    assert entry.key == "generator-standin/onnx/fp32"
    assert entry.source["weights"] == ckpt.name
    assert entry.source["weights_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert entry.source["architecture"] == "generator-standin" and entry.source["licence"] == "Apache-2.0"
    assert json.loads(animetool("verify", str(out), "--json").stdout)[0]["status"] == "ok"
