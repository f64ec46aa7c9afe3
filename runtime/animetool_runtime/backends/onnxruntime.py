"""ONNX Runtime backend (CPU execution provider)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..manifest import TensorSpec

_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
           "tensor(uint8)": "uint8", "tensor(int32)": "int32", "tensor(int64)": "int64"}


def check_available() -> None:
    import onnxruntime  # noqa: F401


def _specs(args) -> list[TensorSpec]:
    return [TensorSpec(a.name, [d if isinstance(d, int) else -1 for d in a.shape], _DTYPES.get(a.type, a.type))
            for a in args]


class Backend:
    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self._sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.inputs = _specs(self._sess.get_inputs())
        self.outputs = _specs(self._sess.get_outputs())
        self.version = f"onnxruntime {ort.__version__}"

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        return self._sess.run(None, {s.name: f for s, f in zip(self.inputs, feeds)})
