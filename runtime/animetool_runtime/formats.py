"""One record per model format, read by the manifest, the runtime's backends, the bundle loader, bench, the toolchain's
exporters and verify, and the tests. A new target is one Format here, one backend module (backends/<backend>.py, with
check_available() and Backend) and one exporter (the toolchain's export/<name>.py)."""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str  # the manifest's "format", the exporter's target name
    title: str  # as people write it
    suffix: str  # the model file's (or folder's) suffix
    backend: str  # the runtime backend that runs it: backends/<backend>.py
    packages: tuple[str, ...]  # import names of the backend's package, any of which will do
    extra: str  # the runtime's pip extra that installs it
    aliases: tuple[str, ...] = ()  # other names --backend takes
    parts: tuple[str, ...] = ()  # suffixes of the files beside it that belong to it (OpenVINO's weights)
    layout: str = "NCHW"  # the tensor layout its files use
    platforms: tuple[str, ...] = ()  # sys.platform values its backend runs on; () for any. Elsewhere verify reads the
    # file without running it: backends/<backend>.py then has structural_check(path, inputs, outputs)
    runs_on: str = "any OS"  # the same, for people
    probed: bool = True  # a native runtime that can crash on a corrupt file: load it once in a child process first

    def runs_here(self) -> bool:
        """Whether its backend can run files on this machine at all (Core ML: macOS only)."""
        return not self.platforms or sys.platform in self.platforms

    def installed(self) -> bool:
        return any(importlib.util.find_spec(p) is not None for p in self.packages)

    def files(self, stem: str) -> list[str]:
        """The names a model of this stem is written as."""
        return [stem + s for s in (self.suffix, *self.parts)]


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("onnx", "ONNX", ".onnx", "onnxruntime", ("onnxruntime",), "onnx", aliases=("onnx", "ort")),
    Format("tflite", "LiteRT (TFLite)", ".tflite", "litert", ("ai_edge_litert", "tflite_runtime"), "tflite",
           aliases=("tflite",), layout="NHWC"),
    Format("openvino", "OpenVINO", ".xml", "openvino", ("openvino",), "openvino", aliases=("ov",), parts=(".bin",)),
    Format("coreml", "Core ML", ".mlpackage", "coreml", ("coremltools",), "coreml", platforms=("darwin",),
           runs_on="macOS", probed=False),
)}
BY_BACKEND: dict[str, Format] = {f.backend: f for f in FORMATS.values()}


def for_file(name: str) -> Format | None:
    """The format of a model file by its name, None when no format's suffix fits."""
    return next((f for f in FORMATS.values() if name.endswith(f.suffix)), None)
