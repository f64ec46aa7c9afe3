"""Resolve a MODEL argument: a registered name, a checkpoint file, or package.module:factory."""
from __future__ import annotations

import hashlib
import dataclasses
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from animetool_runtime.blocks import Postprocess, Preprocess

from animetool.models import REGISTRY, create_model, fault_at


class SourceError(ValueError):
    """A MODEL argument that cannot be turned into a module; the message names it and the fault."""


@dataclass
class Source:
    """A module ready to export plus what the manifest says about it."""

    name: str
    task: str
    module: torch.nn.Module
    input_shape: tuple[int, ...]
    preprocess: Preprocess
    postprocess: Postprocess = field(default_factory=Postprocess)
    output_names: list[str] = field(default_factory=lambda: ["output"])
    provenance: dict[str, Any] = field(default_factory=dict)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _card_licence(card: Path) -> str:
    for line in card.read_text().splitlines() if card.exists() else []:
        if line.lower().startswith("licence:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _registered(name: str, state: dict | None = None, weights: Path | None = None, meta: dict | None = None) -> Source:
    info = REGISTRY[name]
    module = create_model(name, pretrained=state is None)
    if state is not None:
        try:
            module.load_state_dict(state)
        except RuntimeError as e:
            raise SourceError(f"{weights}: weights do not fit {name} ({str(e).splitlines()[0]})") from None
    weights = weights or info.weights_path
    if meta is None and weights is not None:
        from safetensors import safe_open

        with safe_open(str(weights), "pt") as f:
            meta = f.metadata() or {}
    prov = {"architecture": name, "weights": weights.name if weights else None,
            "weights_sha256": _sha256(weights) if weights else None, "card": info.card_path.name,
            "licence": (meta or {}).get("licence") or _card_licence(info.card_path),
            "weights_source": (meta or {}).get("source", "see model card"), "teacher": (meta or {}).get("teacher")}
    return Source(name, info.task, module.eval(), info.input_shape, Preprocess.from_dict(info.preprocess),
                  Postprocess.from_dict(info.postprocess),
                  list(info.output_names), prov)


def _checkpoint(path: Path) -> Source:
    """A .safetensors whose metadata names its registered arch, or a .pt dict {"arch": ..., "state_dict": ...}."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors raises its own error types for truncated files
            raise SourceError(f"{path}: not a readable safetensors file ({e})") from None
    else:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise SourceError(f"{path}: not a readable torch checkpoint ({str(e).splitlines()[0]})") from None
        if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
            raise SourceError(f"{path}: checkpoint must be a dict with 'arch' and 'state_dict'")
        meta, state = {k: v for k, v in ckpt.items() if k != "state_dict" and isinstance(v, str)}, ckpt["state_dict"]
    arch = meta.get("arch")
    if arch not in REGISTRY:
        raise SourceError(f"{path}: checkpoint names no registered architecture (arch={arch!r}); "
                          f"registered: {', '.join(sorted(REGISTRY))}")
    return _registered(arch, state, path, meta)


def _factory(spec: str, input_shape: tuple[int, ...] | None, norm: dict[str, list[float]] | None = None) -> Source:
    mod_name, _, fn_name = spec.partition(":")
    if input_shape is None:
        raise SourceError(f"{spec}: a package.module:factory model needs --input-shape, e.g. 1,3,224,224")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` and uvicorn do: a module beside the user imports
    try:
        fn = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise SourceError(f"{spec}: cannot import factory ({e})") from None
    try:
        module = fn()
    except Exception as e:  # the user's code: one line naming it, not a traceback
        raise SourceError(f"{spec}: the factory raised {type(e).__name__}: "
                          f"{(str(e).strip().splitlines() or [''])[0]}") from None
    if not isinstance(module, torch.nn.Module):
        raise SourceError(f"{spec}: factory returned {type(module).__name__}, not a torch.nn.Module")
    image = len(input_shape) == 4 and input_shape[1] in (1, 3)
    pre = {"kind": "image", "size": list(input_shape[2:]), "color": "RGB", "range": [0, 1]} if image else {"kind": "tensor"}
    for key, values in (norm or {}).items():
        if not image:
            raise SourceError(f"{spec}: --{key} needs an NCHW image input (1 or 3 channels), not {list(input_shape)}")
        if len(values) not in (1, input_shape[1]):
            raise SourceError(f"{spec}: --{key} has {len(values)} values for {input_shape[1]} channels")
        if key == "std" and min(values) <= 0:
            raise SourceError(f"{spec}: --std must be positive, got {values}")
        pre[key] = [float(v) for v in values] * (input_shape[1] // len(values))
    name = fn_name.replace("_", "-")
    prov = {"architecture": spec, "weights": "as built by the factory", "licence": "user-supplied (not recorded)"}
    return Source(name, "generic", module.eval(), tuple(input_shape), Preprocess.from_dict(pre), Postprocess(),
                  _output_names(module, input_shape), prov)


def _output_names(module: torch.nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """"output", or output0, output1, ... for a module returning a tuple or list: every target names (and the
    reference records) each of them. One eval pass on zeros; a module that cannot run on zeros keeps "output" (its
    export says why)."""
    try:
        with torch.no_grad():
            out = module.eval()(torch.zeros(input_shape))
    except Exception:
        return ["output"]
    n = len(out) if isinstance(out, (tuple, list)) else 1
    return ["output"] if n == 1 else [f"output{i}" for i in range(n)]


def resized(src: Source, height: int, width: int) -> Source:
    """src with its image input at height x width (Ultralytics' imgsz): fully convolutional models run at any size their
    strides divide; the manifest's pre-processing follows, so the runtime letterboxes to the new size."""
    if len(src.input_shape) != 4 or src.preprocess.size is None:
        raise SourceError(f"{src.name}: --imgsz needs a model with an NCHW image input, not {list(src.input_shape)}")
    if min(height, width) < 8:
        raise SourceError(f"{src.name}: --imgsz {height}x{width} is too small")
    shape = (*src.input_shape[:2], height, width)
    why = fault_at(src.module, shape)
    if why:
        raise SourceError(f"{src.name}: {why}")
    return dataclasses.replace(src, input_shape=shape, preprocess=dataclasses.replace(src.preprocess, size=(height, width)))


def resolve(spec: str, input_shape: tuple[int, ...] | None = None, norm: dict[str, list[float]] | None = None) -> Source:
    """norm: {"mean": [...], "std": [...]} a module:factory model was trained with, on [0, 1] RGB (torchvision's
    ImageNet models: mean 0.485,0.456,0.406, std 0.229,0.224,0.225), so calibration, reference and the manifest's
    pre-processing feed it what it expects; registered models declare their own."""
    if norm and ":" not in spec:
        raise SourceError(f"{spec}: --mean/--std are for package.module:factory models; registered models and "
                          "checkpoints declare their own input")
    if spec in REGISTRY:
        return _registered(spec)
    path = Path(spec)
    if path.suffix in (".safetensors", ".pt", ".pth", ".ckpt"):
        if not path.exists():
            raise SourceError(f"{path}: checkpoint not found")
        return _checkpoint(path)
    if ":" in spec:
        return _factory(spec, input_shape, norm)
    raise SourceError(f"{spec}: not a registered model ({', '.join(sorted(REGISTRY))}), checkpoint file or "
                      f"package.module:factory")

