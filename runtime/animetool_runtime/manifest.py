"""The bundle manifest: the one contract between the toolchain, the runtime and the apps (schema 1)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .blocks import Postprocess, Preprocess
from .formats import for_file

SCHEMA = 1
MANIFEST = "manifest.json"


class BundleError(ValueError):
    """A bundle, manifest or model file that cannot be used; the message names the file and the fault."""


@dataclass
class TensorSpec:
    """One input or output as the model file sees it; scale/zero_point set only for quantized integer tensors."""

    name: str
    shape: list[int]
    dtype: str
    layout: str = "NCHW"
    scale: float | None = None
    zero_point: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TensorSpec":
        return cls(**{k: d.get(k) for k in ("name", "shape", "dtype", "layout", "scale", "zero_point")})


@dataclass
class ModelEntry:
    """One exported file of one model: name x format x precision."""

    name: str
    task: str
    format: str
    precision: str
    file: str
    sha256: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocess: Preprocess = field(default_factory=Preprocess)
    postprocess: Postprocess = field(default_factory=Postprocess)
    source: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    reference: str | None = None
    parity: dict[str, Any] | None = None

    def __post_init__(self):
        if isinstance(self.preprocess, dict):
            self.preprocess = Preprocess.from_dict(self.preprocess)
        if isinstance(self.postprocess, dict):
            self.postprocess = Postprocess.from_dict(self.postprocess)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["preprocess"], out["postprocess"] = self.preprocess.to_dict(), self.postprocess.to_dict()
        return out

    @property
    def key(self) -> str:
        return f"{self.name}/{self.format}/{self.precision}"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelEntry":
        d = dict(d)
        d["inputs"] = [TensorSpec.from_dict(t) for t in d["inputs"]]
        d["outputs"] = [TensorSpec.from_dict(t) for t in d["outputs"]]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Manifest:
    models: list[ModelEntry]
    created_by: str = ""
    schema: int = SCHEMA
    # cells the export could not make, like `yolo benchmark`'s failed rows: {name, format, precision, reason}
    failed: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> str:
        out = asdict(self)
        out["models"] = [m.to_dict() for m in self.models]
        return json.dumps(out, indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise BundleError(f"{path}: no manifest.json (not an animetool bundle)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BundleError(f"{path}: manifest is not valid JSON ({e})") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            got = data.get("schema") if isinstance(data, dict) else None
            raise BundleError(f"{path}: manifest schema {got!r} is not supported (this runtime reads schema {SCHEMA})")
        from .contract import validate

        validate(data, str(path))
        return cls(models=[ModelEntry.from_dict(m) for m in data["models"]], created_by=data.get("created_by", ""),
                   schema=SCHEMA, failed=list(data.get("failed", [])))


def model_files(path: Path) -> list[Path]:
    """The files one model is made of: a file with the parts its format keeps beside it (an OpenVINO .xml with its
    .bin), or a Core ML .mlpackage folder."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    fmt = for_file(path.name)
    parts = [path.with_suffix(s) for s in (fmt.parts if fmt else ())]
    return [path] + [p for p in parts if p.exists()]


def sha256_path(path: Path) -> str:
    """sha256 over model_files(path); folder members are prefixed with their relative path so renames count."""
    path = Path(path)
    h = hashlib.sha256()
    for f in model_files(path):
        if path.is_dir():
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def size_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in model_files(path))


def to_layout(x: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Move a 4-D array between NCHW and NHWC."""
    if x.ndim != 4 or src == dst:
        return x
    return x.transpose(0, 2, 3, 1) if (src, dst) == ("NCHW", "NHWC") else x.transpose(0, 3, 1, 2)
