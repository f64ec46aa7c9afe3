"""Export targets: one module per target, each registering one function ExportJob -> Exported."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from animetool_runtime.manifest import TensorSpec

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass
class ExportJob:
    """What every exporter gets: an eval-mode fp32 module taking one NCHW float32 input, and real calibration inputs."""

    module: torch.nn.Module
    example: torch.Tensor
    precision: str
    calib: list[np.ndarray]
    out_dir: Path
    stem: str
    input_name: str = "input"
    output_names: list[str] = field(default_factory=lambda: ["output"])
    keep_float: tuple[str, ...] = ()  # int8: module paths (and their submodules) left in float

    def kept(self, path: str) -> bool:
        """Whether the op of module path `path` stays in float in this job's int8 file."""
        return any(path == k or path.startswith(k + ".") for k in self.keep_float)

    def float_note(self) -> str:
        return f"; kept in float: {', '.join(self.keep_float)}" if self.keep_float else ""


@dataclass
class Exported:
    """The file (or .mlpackage folder) written under out_dir, its tensors as the file declares them, and how it was made."""

    file: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Target:
    name: str
    extra: str
    precisions: tuple[str, ...]
    fn: Callable[[ExportJob], Exported]


TARGETS: dict[str, Target] = {}
TARGET_MODULES = ("onnx", "tflite", "openvino", "coreml")


def register_target(name: str, extra: str, precisions: tuple[str, ...] = PRECISIONS):
    def deco(fn: Callable[[ExportJob], Exported]) -> Callable[[ExportJob], Exported]:
        TARGETS[name] = Target(name, extra, precisions, fn)
        return fn

    return deco


def targets() -> dict[str, Target]:
    for mod in TARGET_MODULES:
        importlib.import_module(f"{__name__}.{mod}")
    return TARGETS
