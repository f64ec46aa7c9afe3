"""Parity of an exported model against the PyTorch reference outputs stored in the bundle (reference/<model>.npz)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .bundle import Model
from .manifest import BundleError
from .manifest import to_layout  # noqa: F401 - re-exported: parity users move arrays between layouts
from .pose.decode import decode_heatmaps

# Errors are divided by the reference output's range (max - min) so one bound fits every model.
TOLERANCES = {
    "fp32": {"max": 1e-3, "mean": 1e-4},
    "fp16": {"max": 2e-2, "mean": 2e-3},
    "int8": {"max": 0.25, "mean": 2e-2, "psnr_db": 30.0},
}
# int8 images: a few edge pixels may round far while the picture stays right, so where the model has a PSNR, that
# (the generator issue's bar) replaces the worst-pixel bound.


def reference(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The stored PyTorch inputs (N x input shape, NCHW) and outputs, keyed by output name (no pickles: arrays only)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            x, refs = z["input"], {k[len("output:"):]: z[k] for k in z.files if k.startswith("output:")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise BundleError(f"{path}: not a readable reference .npz with 'input' and 'output:*' arrays "
                          f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
    if not refs or x.dtype.kind != "f" or any(r.dtype.kind != "f" or len(r) != len(x) for r in refs.values()):
        raise BundleError(f"{path}: reference arrays must be float, one output per input, and at least one output")
    return x, refs


def task_metric(model: Model, name: str, out: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """The model's own quality figure against the reference: keypoint agreement for pose, PSNR for images."""
    post = model.entry.postprocess
    if post.decoder == "heatmap-argmax":
        size = max(model.entry.preprocess.size or (1, 1))
        d = [np.linalg.norm(decode_heatmaps(o[None], post.stride)[:, :2] - decode_heatmaps(r[None], post.stride)[:, :2], axis=1)
             for o, r in zip(out, ref)]
        return {"pck@0.05": float(np.mean(np.concatenate(d) <= 0.05 * size))}
    if post.decoder in ("image", "rgba"):
        lo, hi = post.range
        mse = float(np.mean((np.clip(out, lo, hi) - ref) ** 2))
        return {"psnr_db": float(10 * np.log10((hi - lo) ** 2 / max(mse, 1e-12)))}
    return {}


def measure(model: Model, ref_path: Path) -> dict:
    """Run every reference input through the exported model; errors, task metric and a pass/fail against TOLERANCES."""
    entry = model.entry
    inputs, refs = reference(ref_path)
    src = "NCHW"
    outs: dict[str, list[np.ndarray]] = {o.name: [] for o in entry.outputs}
    for x in inputs:
        try:
            ys = model.run(to_layout(x[None], src, entry.inputs[0].layout))
        except ValueError as e:  # the reference's inputs do not fit the model the manifest describes
            raise BundleError(f"{ref_path}: {e}") from None
        for spec, y in zip(entry.outputs, ys):
            outs[spec.name].append(to_layout(y, spec.layout, src)[0])
    result: dict = {"samples": int(len(inputs)), "outputs": {}}
    tol = TOLERANCES.get(entry.precision, TOLERANCES["int8"])
    ok = True
    for ref_name, (name, got) in zip(refs, outs.items()):
        ref, out = refs[ref_name], np.stack(got)
        if ref.shape != out.shape:
            raise BundleError(f"{ref_path}: output:{ref_name} is {list(ref.shape)}, the model gives {list(out.shape)} ({name})")
        span = float(ref.max() - ref.min()) or 1.0
        err = np.abs(out - ref)
        rel_max, rel_mean = float(err.max()) / span, float(err.mean()) / span
        figures = {"max_abs": float(err.max()), "mean_abs": float(err.mean()), "rel_max": rel_max, "rel_mean": rel_mean,
                   **task_metric(model, name, out, ref)}
        result["outputs"][name] = figures
        if "psnr_db" in figures and "psnr_db" in tol:
            ok &= figures["psnr_db"] >= tol["psnr_db"] and rel_mean <= tol["mean"]
        else:
            ok &= rel_max <= tol["max"] and rel_mean <= tol["mean"]
    result["tolerance"] = tol
    result["status"] = "ok" if ok else "parity-failed"
    return result


def headline(result: dict) -> dict:
    """One set of figures per file, the worst over its outputs, so verify, bench and export print the same numbers."""
    outs = list(result.get("outputs", {}).values())
    if not outs:
        return {}
    worst = {"rel_max": max(o["rel_max"] for o in outs), "rel_mean": max(o["rel_mean"] for o in outs)}
    for key in ("psnr_db", "pck@0.05"):
        if any(key in o for o in outs):
            worst[key] = min(o[key] for o in outs if key in o)
    return worst
