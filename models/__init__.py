"""PyTorch architectures, their registry and default weights (imports torch only)."""
from . import generator, pose_student, standins  # noqa: F401  (registers the models)
from .registry import REGISTRY, ModelInfo, create_model, default_models, fault_at, list_models, register_model

__all__ = ["REGISTRY", "ModelInfo", "create_model", "default_models", "fault_at", "list_models", "register_model"]
