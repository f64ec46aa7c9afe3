"""animetool verify: every model file of a bundle through the runtime against the stored PyTorch reference."""
from __future__ import annotations

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from animetool_runtime import load
from animetool_runtime.manifest import MANIFEST, BundleError, ModelEntry
from animetool_runtime.parity import measure

from .build import atomic_output, write_manifest


def _coreml(entry: ModelEntry, path: Path) -> dict:
    """Structural checks everywhere; numeric parity only where Core ML runs (macOS)."""
    from animetool_runtime.backends.coreml import structural_check

    res = structural_check(path, entry.inputs, entry.outputs)
    res["status"] = "structural-ok" if res["ok"] else "failed"
    return res


def verify_entry(bundle, entry: ModelEntry) -> dict:
    path = bundle.root / entry.file
    try:
        if entry.format == "coreml" and sys.platform != "darwin":
            return _coreml(entry, path)
        return measure(bundle.open_entry(entry), bundle.root / entry.reference)
    except BundleError as e:
        return {"status": "failed", "reason": str(e)}


def verify(path: Path, on_entry=lambda entry, result: None) -> list[tuple[ModelEntry, dict]]:
    """Measure every entry and record the figures in the manifest (rewritten atomically, a .zip re-packed)."""
    path = Path(path)
    bundle = load(path)
    results = []
    for entry in bundle.manifest.models:
        if not entry.reference:
            raise BundleError(f"{path}: {entry.key} has no reference outputs to compare with")
        entry.parity = verify_entry(bundle, entry)
        results.append((entry, entry.parity))
        on_entry(entry, entry.parity)
    if path.is_dir():
        write_manifest(path, bundle.manifest)
    else:
        with atomic_output(path) as tmp, tempfile.TemporaryDirectory() as src:
            zipfile.ZipFile(path).extractall(src)
            write_manifest(Path(src), bundle.manifest)
            shutil.copytree(src, tmp, dirs_exist_ok=True)
    return results


__all__ = ["verify", "verify_entry", "MANIFEST"]
