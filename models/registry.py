"""Model registry: @register_model on a factory; default weights live beside it as weights/<name>.<tag>.safetensors."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass
class ModelInfo:
    """Everything the exporter and the manifest need to know about a registered model, beside its factory."""

    name: str
    task: str
    factory: Callable[[], torch.nn.Module]
    input_shape: tuple[int, ...]
    preprocess: dict[str, Any]
    postprocess: dict[str, Any] = field(default_factory=dict)
    output_names: tuple[str, ...] = ("output",)
    weights: str | None = None
    default: bool = False

    @property
    def weights_path(self) -> Path | None:
        return WEIGHTS_DIR / self.weights if self.weights else None

    @property
    def card_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.md"


REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, **info: Any) -> Callable:
    def deco(factory: Callable[[], torch.nn.Module]) -> Callable[[], torch.nn.Module]:
        REGISTRY[name] = ModelInfo(name=name, factory=factory, **info)
        return factory

    return deco


def list_models() -> list[str]:
    return sorted(REGISTRY)


def default_models() -> list[str]:
    return [n for n, m in REGISTRY.items() if m.default]


def create_model(name: str, pretrained: bool = True) -> torch.nn.Module:
    """Build a registered model in eval mode, with its default weights unless pretrained=False."""
    from safetensors.torch import load_file

    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    info = REGISTRY[name]
    model = info.factory()
    if pretrained and info.weights_path is not None:
        model.load_state_dict(load_file(str(info.weights_path)))
    return model.eval()


def fault_at(module: torch.nn.Module, shape: tuple[int, ...]) -> str | None:
    """Why module cannot take an input of this shape (e.g. strides that do not divide it), or None; one eval-mode
    pass on zeros, so batch-norm statistics stay as they were."""
    was_training = module.training
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(shape))
    except RuntimeError as e:
        return f"does not run at {shape[-2]}x{shape[-1]} ({str(e).splitlines()[0]}); try a multiple of 32"
    finally:
        module.train(was_training)
    return None
