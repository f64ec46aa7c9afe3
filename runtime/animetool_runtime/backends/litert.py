"""LiteRT (TFLite) backend: ai-edge-litert's interpreter, or the older tflite-runtime wheel where that is what is installed."""
from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import numpy as np

from ..manifest import TensorSpec


def _interpreter_class():
    """(Interpreter class, 'dist version') from whichever LiteRT package is importable."""
    try:
        from ai_edge_litert.interpreter import Interpreter
        dist = "ai-edge-litert"
    except ImportError:
        from tflite_runtime.interpreter import Interpreter
        dist = "tflite-runtime"
    try:
        return Interpreter, f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return Interpreter, dist


def check_available() -> None:
    """Raise ImportError when neither ai-edge-litert nor tflite-runtime can be imported."""
    try:
        _interpreter_class()
    except ImportError as e:
        raise ImportError(f"neither ai_edge_litert nor tflite_runtime can be imported ({e})") from None


def _specs(details: list[dict], sig_names: dict[int, str]) -> list[TensorSpec]:
    """Tensor details -> TensorSpecs named by the signature; scale/zero_point only for quantized integers."""
    specs = []
    for d in details:
        dtype = np.dtype(d["dtype"])
        scale, zp = d["quantization"]
        quant = dtype.kind in "iu" and scale != 0.0
        shape = [int(s) for s in d["shape"]]
        specs.append(TensorSpec(
            name=sig_names.get(d["index"], d["name"]), shape=shape, dtype=dtype.name,
            layout="NHWC" if len(shape) == 4 else "NCHW",
            scale=float(scale) if quant else None, zero_point=int(zp) if quant else None))
    return specs


class Backend:
    """One .tflite file on the CPU interpreter (all cores unless threads is given; LiteRT's own default is 1)."""

    def __init__(self, path: Path, threads: int | None = None):
        Interpreter, self.version = _interpreter_class()
        self._it = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count() or 1)
        self._it.allocate_tensors()
        names_in, names_out = {}, {}
        for key in self._it.get_signature_list():
            runner = self._it.get_signature_runner(key)
            names_in.update({d["index"]: n for n, d in runner.get_input_details().items()})
            names_out.update({d["index"]: n for n, d in runner.get_output_details().items()})
        self._in = [d["index"] for d in self._it.get_input_details()]
        self._out = [d["index"] for d in self._it.get_output_details()]
        self.inputs = _specs(self._it.get_input_details(), names_in)
        self.outputs = _specs(self._it.get_output_details(), names_out)

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """Set inputs in order, invoke, and return copies (the interpreter reuses its output buffers)."""
        for idx, x in zip(self._in, feeds, strict=True):
            self._it.set_tensor(idx, np.ascontiguousarray(x))
        self._it.invoke()
        return [self._it.get_tensor(idx).copy() for idx in self._out]
