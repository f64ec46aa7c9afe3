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


def describe() -> dict:
    versions = {}
    for dist in ("numpy", "onnxruntime", "ai-edge-litert", "tflite-runtime", "openvino", "coremltools"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu_name(), "machine": platform.machine(), "cores": os.cpu_count(),
            "os": platform.platform(), "python": platform.python_version(), "packages": versions}


def slug(d: dict) -> str:
    """The machine part of a results file name, from describe(): e.g. "amd-epyc-2cores"."""
    return re.sub(r"[^a-z0-9]+", "-", f"{d['cpu']} {d['cores']}cores".lower()).strip("-")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (1e6 if sys.platform == "darwin" else 1e3), 1)
