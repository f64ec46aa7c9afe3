"""int8 files give the same numbers on every x86 CPU, not only on the one that made them.

onnxruntime, OpenVINO (oneDNN) and LiteRT (XNNPACK) pick their int8 kernels by CPUID: VNNI or AMX on new Xeons,
vpmaddubsw on AVX2-only and AVX-512-without-VNNI CPUs (where u8 x s8 pair sums saturate at 16 bits), plain SSE4.1 on
old ones. This machine can only run its own path, so the int8 files also run under qemu-user emulating an AVX2 CPU
without VNNI (Haswell, like the AMD EPYC CI machines) and an SSE4.2 one (Nehalem), and must give what they give here.
qemu's TCG has no AVX-512, so AVX-512-without-VNNI is not emulated; it takes the same vpmaddubsw path as AVX2.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from animetool_runtime.parity import TOLERANCES, reference
from conftest import ROOT, need

FORMATS = "onnx,tflite,openvino"
MODELS = "pose-student-s,generator-student"  # one of each task; the 256 px generator is the same network
CPUS = {"Haswell": {"avx2", "fma3"}, "Nehalem": set()}  # what each emulated CPU must report (and no avx512vnni)
# Two kernel paths on the same int8 file may round an intermediate value one step apart (oneDNN's AMX vs AVX2 do, on a
# few cells); saturation moves outputs by tens of steps (the AVX2 regression this guards: rel_max 0.46, PSNR 28 dB).
SAME_MAX, SAME_MEAN = 0.03, 1e-3  # of the output's range


def _outputs(bundle, npz, emulate: str | None = None) -> dict[str, np.ndarray]:
    cmd = [sys.executable, str(ROOT / "tests" / "int8_outputs.py"), str(bundle), str(npz), FORMATS, MODELS]
    env = None
    if emulate:
        cmd = ["qemu-x86_64", "-cpu", emulate] + cmd
        # numpy's OpenBLAS picks its Haswell kernels under qemu's Nehalem model (OPENBLAS_VERBOSE=2 prints "Core:
        # Haswell") and numpy dies on import with an illegal instruction. OpenBLAS is not on the int8 path under test:
        # tell it the CPU that is emulated.
        env = dict(os.environ, OPENBLAS_CORETYPE=emulate.upper())
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(npz) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def native(app_bundle, tmp_path_factory):
    return _outputs(app_bundle, tmp_path_factory.mktemp("native") / "out.npz")


@pytest.mark.parametrize("cpu", list(CPUS))
def test_int8_outputs_do_not_depend_on_the_cpu(app_bundle, native, cpu, tmp_path):
    if platform.machine() != "x86_64":
        pytest.skip("emulates other x86 CPUs; this host is not x86_64")
    need(["qemu-x86_64"])
    emulated = _outputs(app_bundle, tmp_path / "out.npz", emulate=cpu)
    features = set(emulated.pop("cpu_features").tolist())
    assert CPUS[cpu] <= features and "avx512vnni" not in features and "avx512f" not in features, features
    native_features = native["cpu_features"].tolist()
    keys = [k for k in native if k != "cpu_features"]
    assert len(keys) == 4 * 3 + 1 * 3 and set(keys) == set(emulated)  # pose: 4 outputs x 3 formats; generator: 1 x 3
    refs = {}
    for key in keys:
        entry, name = key.split(":")
        model = entry.split("/")[0]
        if model not in refs:
            refs[model] = reference(app_bundle / "reference" / f"{model}.npz")[1]
        ref = refs[model][name]
        span = float(ref.max() - ref.min())
        diff = np.abs(emulated[key] - native[key])
        assert diff.max() <= SAME_MAX * span and diff.mean() <= SAME_MEAN * span, (
            f"{key} on {cpu} differs from this CPU ({native_features}): max {diff.max() / span:.3f}, "
            f"mean {diff.mean() / span:.2e} of the range")
        assert np.abs(emulated[key] - ref).mean() <= TOLERANCES["int8"]["mean"] * span, key
