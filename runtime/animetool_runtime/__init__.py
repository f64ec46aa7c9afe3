"""animetool-runtime: run animetool bundles with numpy and one backend (never torch)."""
from .bundle import Bundle, Model, load
from .manifest import BundleError, Manifest, ModelEntry, TensorSpec

__version__ = "0.1.0"
__all__ = ["Bundle", "BundleError", "Manifest", "Model", "ModelEntry", "TensorSpec", "load"]
