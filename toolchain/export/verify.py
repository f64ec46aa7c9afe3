"""animetool verify: every model file of a bundle through the runtime against the stored PyTorch reference."""
from __future__ import annotations

import importlib
import platform
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from animetool_runtime import device, load
from animetool_runtime.bundle import Model
from animetool_runtime.formats import FORMATS, Format
from animetool_runtime.bench import parity_text
from animetool_runtime.manifest import MANIFEST, BundleError, ModelEntry, to_layout
from animetool_runtime.parity import headline, measure

from animetool.export.files import atomic_output, quiet_native, write_manifest


def _structural(fmt: Format, entry: ModelEntry, path: Path) -> dict:
    """Where a format cannot run (Core ML off macOS): what its backend can check of the file without running it."""
    res = importlib.import_module(f"animetool_runtime.backends.{fmt.backend}").structural_check(path, entry.inputs, entry.outputs)
    res["status"] = "structural-ok" if res["ok"] else "failed"
    return res


def torch_input_shape(entry: ModelEntry) -> tuple[int, ...]:
    """The NCHW input shape the PyTorch model took, from the file's own (NHWC for TFLite)."""
    spec = entry.inputs[0]
    return tuple(to_layout(np.broadcast_to(np.uint8(0), spec.shape), spec.layout, "NCHW").shape)  # a view: no memory


def verified_on() -> dict:
    """The machine a parity figure was measured on: int8 kernels differ by instruction set (AVX2, AVX-512 VNNI, NEON)."""
    return {"cpu": device.cpu_name(), "machine": platform.machine(), "cpu_features": device.cpu_features()}


def verify_entry(root: Path, entry: ModelEntry, machine: dict | None = None, threads: int | None = None) -> dict:
    """One file of the bundle at root against its PyTorch reference (export's float-layer search asks too)."""
    path = root / entry.file
    with quiet_native():  # LiteRT's INFO lines, torchao's 'Failed to load' when Core ML imports torch
        try:
            if not FORMATS[entry.format].runs_here():
                res = _structural(FORMATS[entry.format], entry, path)
            else:
                res = measure(Model(entry, path, threads), root / entry.reference)
        except BundleError as e:
            res = {"status": "failed", "reason": str(e)}
    res["verified_on"] = machine or verified_on()
    return res


def summary(entry: ModelEntry, res: dict) -> str:
    """The parity cell of verify's and export's tables: the worst figures over the outputs, or why it failed."""
    if "problems" in res:  # a structural check
        if res.get("problems"):
            return "; ".join(res["problems"])
        return f"spec {res['spec_version']}, {len(res['ops'])} op types, I/O match; numeric parity {res['numeric']}"
    return parity_text(headline(res)) if res.get("outputs") else res.get("reason", "")


def verify_bundle(bundle, on_entry=lambda entry, result: None) -> list[tuple[ModelEntry, dict]]:
    """Measure every entry of an opened bundle, setting entry.parity (the caller writes the manifest)."""
    machine = verified_on()
    results = []
    for entry in bundle.manifest.models:
        if not entry.reference:
            raise BundleError(f"{bundle.root}: {entry.key} has no reference outputs to compare with")
        entry.parity = verify_entry(bundle.root, entry, machine, bundle.threads)
        results.append((entry, entry.parity))
        on_entry(entry, entry.parity)
    return results


def verify(path: Path, on_entry=lambda entry, result: None) -> list[tuple[ModelEntry, dict]]:
    """Measure every entry and record the figures in the manifest (rewritten atomically, a .zip re-packed)."""
    path = Path(path)
    bundle = load(path)
    results = verify_bundle(bundle, on_entry)
    if path.is_dir():
        write_manifest(path, bundle.manifest)
    else:
        with atomic_output(path) as tmp, tempfile.TemporaryDirectory() as src:
            zipfile.ZipFile(path).extractall(src)
            write_manifest(Path(src), bundle.manifest)
            shutil.copytree(src, tmp, dirs_exist_ok=True)
    return results


__all__ = ["verify", "verify_bundle", "verify_entry", "summary", "verified_on", "MANIFEST"]
