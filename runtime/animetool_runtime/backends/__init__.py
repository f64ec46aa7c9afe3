"""Runtime backends: one small module per backend, imported lazily, all with the same interface."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

import numpy as np

from ..manifest import BundleError, TensorSpec

# backend name -> (module, the format it runs, the pip extra that installs it)
BACKENDS = {
    "onnxruntime": ("onnxruntime", "onnx", "onnx"),
    "litert": ("litert", "tflite", "tflite"),
    "openvino": ("openvino", "openvino", "openvino"),
    "coreml": ("coreml", "coreml", "coreml"),
}
ALIASES = {"onnx": "onnxruntime", "ort": "onnxruntime", "tflite": "litert", "ov": "openvino"}
FORMAT_BACKEND = {fmt: name for name, (_, fmt, _) in BACKENDS.items()}


class Session(Protocol):
    """A loaded model file. run() takes and returns arrays exactly as the file declares them (no (de)quantizing)."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]: ...


def backend_name(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in BACKENDS:
        raise BundleError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)} (or onnx, tflite)")
    return name


def open_session(backend: str, path: Path, threads: int | None = None) -> Session:
    """Load a model file with a backend; a missing backend package is an error that names the extra to install."""
    backend = backend_name(backend)
    module, _, extra = BACKENDS[backend]
    mod = importlib.import_module(f"{__name__}.{module}")
    try:
        mod.check_available()
    except ImportError as e:
        raise BundleError(f"backend {backend} is not installed ({e}); pip install 'animetool-runtime[{extra}]'") from None
    if not Path(path).exists():
        raise BundleError(f"{path}: model file not found")
    try:
        return mod.Backend(Path(path), threads=threads)
    except BundleError:
        raise
    except Exception as e:  # backends raise many types for a corrupt file; report it in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BundleError(f"{path}: {backend} cannot load this model ({first})") from None
