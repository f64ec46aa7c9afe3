"""OpenVINO backend (CPU plugin), reading IR .xml (+ .bin beside it)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..manifest import BundleError, TensorSpec

# The CPU plugin runs bf16 (or f16) by default where the CPU has it; f32 keeps numbers comparable to the reference.
# ANIMETOOL_OV_PRECISION=bf16|f16|f32 overrides it, "default" leaves the plugin's own choice.
PRECISION_ENV = "ANIMETOOL_OV_PRECISION"


def check_available() -> None:
    import openvino  # noqa: F401


def _specs(ports) -> list[TensorSpec]:
    return [
        TensorSpec(
            p.get_any_name(),
            [d.get_length() if d.is_static else -1 for d in p.get_partial_shape()],
            p.get_element_type().to_dtype().name,
        )
        for p in ports
    ]


def _reason(e: Exception) -> str:
    """OpenVINO errors open with 'Exception from src/...' lines; the reason is the last line that is not a location."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    plain = [ln for ln in lines if not ln.startswith(("Exception from ", "Check '"))]
    return (plain or lines or [type(e).__name__])[-1]


class Backend:
    def __init__(self, path: Path, threads: int | None = None):
        import openvino as ov

        config: dict[str, object] = {}
        precision = os.environ.get(PRECISION_ENV, "f32").strip().lower()
        if precision not in ("", "default"):
            config["INFERENCE_PRECISION_HINT"] = precision
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        if not path.with_suffix(".bin").exists():
            raise BundleError(f"{path}: OpenVINO weights file {path.with_suffix('.bin').name} is missing beside it")
        try:
            self._compiled = ov.Core().compile_model(str(path), "CPU", config)
        except RuntimeError as e:
            raise BundleError(f"{path}: openvino cannot load this model ({_reason(e)})") from None
        self._request = self._compiled.create_infer_request()  # one request, reused: no per-call setup
        self.inputs = _specs(self._compiled.inputs)
        self.outputs = _specs(self._compiled.outputs)
        self.version = f"openvino {ov.__version__.split('-')[0]}"

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        # share_outputs=False (the default) copies results out of the request's buffers, which the next run overwrites
        result = self._request.infer(list(feeds))
        return [np.asarray(result[port]) for port in self._compiled.outputs]
