"""The runtime installs into a fresh venv with only numpy + its backends (no torch, no toolchain) and runs a bundle there."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from animetool_runtime.parity import TOLERANCES
from conftest import small_bundle

ROOT = Path(__file__).resolve().parents[1]

CHECK = textwrap.dedent("""
    import importlib.util, json, sys
    import numpy as np
    import animetool_runtime
    from animetool_runtime import load
    from animetool_runtime.parity import TOLERANCES, reference, to_layout

    result = {"runtime_file": animetool_runtime.__file__, "tolerances": TOLERANCES, "entries": {}}
    for backend in ("onnx", "tflite"):
        for precision in ("fp32", "int8"):
            bundle = load(sys.argv[1], backend=backend, precision=precision)
            model = bundle.model("generator-standin")
            x, refs = reference(bundle.root / model.entry.reference)
            (ref,) = refs.values()
            got = []
            for i in range(len(x)):
                (y,) = model.run(to_layout(x[i:i + 1], "NCHW", model.entry.inputs[0].layout))
                got.append(to_layout(y, model.entry.outputs[0].layout, "NCHW")[0])
            err = np.abs(np.stack(got) - ref)
            span = float(ref.max() - ref.min())
            result["entries"][model.entry.key] = {"rel_max": float(err.max()) / span, "rel_mean": float(err.mean()) / span,
                                                  "samples": len(x), "backend": model.version}
    result["torch_loaded"] = "torch" in sys.modules
    result["toolchain_importable"] = importlib.util.find_spec("animetool") is not None
    print(json.dumps(result))
""")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, **{"timeout": 900, **kw})


def test_runtime_alone_in_fresh_venv(tmp_path, tmp_path_factory, app_bundle, clip):
    bundle = small_bundle(tmp_path_factory)
    # Install from a copy of runtime/ so the in-tree build (build/, *.egg-info) does not touch the checkout.
    src = Path(shutil.copytree(ROOT / "runtime", tmp_path / "runtime-src",
                               ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")))
    venv = tmp_path / "venv"
    proc = run([sys.executable, "-m", "venv", venv])
    assert proc.returncode == 0, proc.stderr
    py = venv / "bin" / "python"
    proc = run([py, "-m", "pip", "install", "-q", "-c", ROOT / "constraints.txt", f"{src}[onnx,tflite,video]"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    proc = run([py, "-c", "import torch"], cwd=tmp_path)
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stderr, proc.stderr

    proc = run([py, "-c", CHECK, bundle], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(result["runtime_file"]).is_relative_to(venv), result["runtime_file"]
    assert result["torch_loaded"] is False and result["toolchain_importable"] is False
    assert result["tolerances"] == TOLERANCES
    assert set(result["entries"]) == {f"generator-standin/{t}/{p}" for t in ("onnx", "tflite") for p in ("fp32", "int8")}
    for key, figures in result["entries"].items():
        tol = TOLERANCES[key.rsplit("/", 1)[1]]
        assert figures["samples"] >= 1
        assert figures["rel_max"] <= tol["max"] and figures["rel_mean"] <= tol["mean"], (key, figures)

    proc = run([py, "-m", "animetool_runtime", "bench", bundle, "--json", "--runs", "2"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bench = json.loads(proc.stdout)
    packages = bench["device"]["packages"]
    assert {"numpy", "onnxruntime", "ai-edge-litert"} <= set(packages) and "openvino" not in packages
    assert len(bench["rows"]) == 4
    for row in bench["rows"]:
        assert row["status"] == "ok" and row["p50_ms"] > 0 and row["fps"] > 0 and row["peak_rss_mb"] > 0, row

    out = tmp_path / "anime.mp4"
    proc = run([py, "-m", "animetool_runtime", "animate", clip, "-o", out, "--bundle", app_bundle, "--backend", "onnx",
                "--size", "128", "--json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert out.is_file() and result["frames"] == 60 and result["people_max"] >= 2
    assert result["models"] == {"pose": "pose-student-s/onnx/int8", "generator": "generator-student/onnx/int8"}
