"""The export room: one module per target, each registering one function ExportJob -> Exported (this page), and
what runs them: sources.py (what to export), build.py (the bundle), files.py (written whole or not at all),
verify.py, lint.py (int8 hazards), mixed.py (layers kept float), layers.py (per-layer numerics)."""
from __future__ import annotations

import importlib
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from animetool_runtime.formats import FORMATS
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
    _folded: dict[str, str] | None = field(default=None, init=False, repr=False)

    def kept(self, path: str) -> bool:
        """Whether the op of module path `path` stays in float in this job's int8 file. A converter that folds a conv
        with its BatchNorm names the fused op after the BatchNorm (torch.onnx) or the op it feeds does (OpenVINO):
        such a path counts as the conv's."""
        if not self.keep_float or not path:
            return False
        if self._folded is None:
            self._folded = folded_batchnorms(self.module, self.example)
        return any(p == k or p.startswith(k + ".") for p in (path, self._folded.get(path, path)) for k in self.keep_float)

    def float_note(self) -> str:
        return f"; kept in float: {', '.join(self.keep_float)}" if self.keep_float else ""


_FLOAT = weakref.WeakKeyDictionary()  # module -> {target: (key, bytes)}: each target's latest float conversion


def float_conversion(job: ExportJob, target: str, convert: Callable[[], bytes]) -> bytes:
    """The target's float conversion of job.module (what its fp32 file is, and its fp16 and int8 files start from),
    made once per module, shape and names in this process: an export of fp32, fp16 and int8 traces and converts once
    per target instead of once per file (each conversion takes seconds to tens of seconds). A weight changed in place
    (its version counter moves) or a new shape makes it anew."""
    state = tuple((k, v.data_ptr(), v._version) for k, v in job.module.state_dict(keep_vars=True).items())
    key = (tuple(job.example.shape), job.input_name, tuple(job.output_names), state)
    per = _FLOAT.setdefault(job.module, {})
    if per.get(target, (None,))[0] != key:
        per[target] = (key, convert())
    return per[target][1]


def folded_batchnorms(module: torch.nn.Module, example: torch.Tensor) -> dict[str, str]:
    """BatchNorm module path -> the conv or linear whose output it normalises, seen in one forward pass."""
    from torch import nn

    made: dict[int, str] = {}
    pairs: dict[str, str] = {}
    hooks = []
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            hooks.append(m.register_forward_hook(lambda m, a, out, name=name: made.__setitem__(id(out), name)))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            hooks.append(m.register_forward_hook(
                lambda m, a, out, name=name: made.get(id(a[0])) and pairs.__setitem__(name, made[id(a[0])])))
    try:
        with torch.no_grad():
            module(example)
    finally:
        for h in hooks:
            h.remove()
    return pairs


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


def register_target(name: str, extra: str, precisions: tuple[str, ...] = PRECISIONS):
    def deco(fn: Callable[[ExportJob], Exported]) -> Callable[[ExportJob], Exported]:
        TARGETS[name] = Target(name, extra, precisions, fn)
        return fn

    return deco


def targets() -> dict[str, Target]:
    """Every format's exporter: export/<format name>.py registers it (runtime formats.FORMATS lists the formats)."""
    for name in FORMATS:
        importlib.import_module(f"{__name__}.{name}")
    return TARGETS
