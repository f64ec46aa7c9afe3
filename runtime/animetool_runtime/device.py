"""What a benchmark ran on: CPU, cores, OS, Python and backend versions."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Hardware", "Model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The instruction sets that pick int8 and float kernels (onnxruntime's MLAS, oneDNN, XNNPACK), as numpy's CPUID probe
# names them: recorded with every benchmark and parity result, since one file may round differently on another CPU.
# CPUID, not /proc/cpuinfo: under an emulated CPU (qemu -cpu Haswell, as the tests use) cpuinfo shows the host's flags.
KERNEL_FEATURES = ("SSE41", "AVX", "AVX2", "FMA3", "F16C", "AVX512F", "AVX512BW", "AVX512VL", "AVX512VNNI",
                   "AVX512BF16", "AVX512FP16", "NEON", "ASIMD", "ASIMDDP", "ASIMDFHM", "SVE")
_CPUINFO_ONLY = ("avx_vnni", "amx_int8", "amx_bf16", "i8mm")  # numpy does not probe these; trusted beside AVX512VNNI/ASIMDDP


def cpu_features() -> list[str]:
    """The KERNEL_FEATURES this CPU has, lower-case (e.g. avx2, avx512vnni, asimddp), plus AMX / AVX-VNNI / I8MM."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as probe
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as probe
    found = [f.lower() for f in KERNEL_FEATURES if probe.get(f)]
    if probe.get("AVX512VNNI") or probe.get("ASIMDDP"):
        try:
            with open("/proc/cpuinfo") as f:
                flags = {w for line in f if line.startswith(("flags", "Features")) for w in line.split(":", 1)[1].split()}
            found += [f for f in _CPUINFO_ONLY if f in flags]
        except OSError:
            pass
    return found


def describe() -> dict:
    versions = {}
    for dist in ("numpy", "onnxruntime", "ai-edge-litert", "tflite-runtime", "openvino", "coremltools"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu_name(), "cpu_features": cpu_features(), "machine": platform.machine(), "cores": os.cpu_count(),
            "os": platform.platform(), "python": platform.python_version(), "packages": versions}


def short(d: dict | None = None) -> str:
    """One line for a table header or log: 'Intel Xeon (2 cores, x86_64: avx2 avx512_vnni ...)'."""
    d = d or describe()
    return f"{d['cpu']} ({d['cores']} cores, {d['machine']}: {' '.join(d.get('cpu_features', [])) or 'baseline ISA'})"


def slug(d: dict) -> str:
    """The machine part of a results file name, from describe(): e.g. "amd-epyc-2cores"."""
    return re.sub(r"[^a-z0-9]+", "-", f"{d['cpu']} {d['cores']}cores".lower()).strip("-")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1e6 if sys.platform == "darwin" else 1e3), 1)
