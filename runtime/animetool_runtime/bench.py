"""Benchmark every model x format x precision of a bundle, one fresh process per row so peak RSS is its own."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

from . import device
from .backends import backend_name
from .formats import FORMATS
from .bundle import load
from .manifest import BundleError, size_bytes
from .parity import headline, measure, reference, to_layout


def run_one(bundle: str, key: str, threads: int, runs: int, warmup: int) -> dict:
    """Time one entry in this process (the worker side): latency percentiles, FPS, parity, peak RSS."""
    b = load(bundle, threads=threads)
    entry = next(e for e in b.manifest.models if e.key == key)
    row: dict = {"size_mb": round(size_bytes(b.root / entry.file) / 1e6, 3)}
    model = b.open_entry(entry)
    row["backend_version"] = model.version
    if entry.reference:
        par = measure(model, b.root / entry.reference)
        row["parity"] = headline(par)
        row["status"] = par["status"]
        x = to_layout(reference(b.root / entry.reference)[0][:1], "NCHW", entry.inputs[0].layout)
    else:
        row["status"] = "ok"
        x = np.random.default_rng(0).random(entry.inputs[0].shape, dtype=np.float32)
    feeds = [x] + [np.zeros(s.shape, np.float32) for s in entry.inputs[1:]]
    for _ in range(warmup):
        model.run(*feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        model.run(*feeds)
        times.append((time.perf_counter() - t) * 1e3)
    p50, p90 = np.percentile(times, [50, 90])
    row.update(p50_ms=round(float(p50), 3), p90_ms=round(float(p90), 3), fps=round(1e3 / float(p50), 1),
               peak_rss_mb=device.peak_rss_mb())
    return row


def bench(bundle: str, backends: list[str] | None = None, threads: list[int] = (1,), runs: int = 50, warmup: int = 5,
          timeout: float = 600, on_row=lambda row: None) -> dict:
    """All rows of a bundle; a row that fails gives status 'failed' and the reason instead of stopping the run."""
    if runs < 1 or warmup < 0 or not threads or min(threads) < 1:
        raise BundleError(f"runs {runs}, warmup {warmup}, threads {list(threads)}: runs and threads must be at least 1, "
                          "warmup 0 or more")
    backends = [backend_name(b) for b in backends] if backends else None  # an unknown name: BundleError naming them all
    manifest = load(bundle).manifest
    rows = []
    for e in manifest.models:
        fmt = FORMATS[e.format]
        backend = fmt.backend
        if backends and backend not in backends and e.format not in backends:
            continue
        if not fmt.runs_here():
            rows.append({"model": e.name, "format": e.format, "precision": e.precision, "backend": backend,
                         "status": "skipped", "reason": f"{fmt.title} runs only on {fmt.runs_on}"})
            on_row(rows[-1])
            continue
        for n in threads:
            row = {"model": e.name, "format": e.format, "precision": e.precision, "backend": backend, "threads": n}
            cmd = [sys.executable, "-m", "animetool_runtime", "_bench_one", str(bundle), e.key, str(n), str(runs), str(warmup)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                      env=dict(os.environ, OMP_NUM_THREADS=str(n)))
                lines = proc.stdout.strip().splitlines()
                if proc.returncode == 0 and lines:
                    row.update(json.loads(lines[-1]))
                else:
                    err = (proc.stderr.strip().splitlines() or ["exited with code %d" % proc.returncode])[-1]
                    row.update(status="failed", reason=err)
            except subprocess.TimeoutExpired:
                row.update(status="failed", reason=f"timed out after {timeout:.0f} s")
            rows.append(row)
            on_row(row)
    for f in manifest.failed:  # cells the export could not make: a row each, as `yolo benchmark` gives them
        backend = FORMATS[f["format"]].backend if f["format"] in FORMATS else f["format"]
        if not backends or backend in backends or f["format"] in backends:
            rows.append({"model": f["name"], "format": f["format"], "precision": f["precision"], "backend": backend,
                         "status": "export-failed", "reason": f["reason"]})
            on_row(rows[-1])
    return {"bundle": str(bundle), "device": device.describe(), "runs": runs, "rows": rows}


COLUMNS = [("model", "model"), ("format", "format"), ("precision", "prec"), ("threads", "thr"), ("status", "status"),
           ("size_mb", "MB"), ("parity", "parity"), ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"), ("fps", "FPS"),
           ("peak_rss_mb", "RSS MB")]


def parity_text(p: dict | None) -> str:
    """The figure a reader wants first (parity.headline's): task metric if any, else the errors relative to the range."""
    if not p:
        return "-"
    for k in ("psnr_db", "pck@0.05"):
        if k in p:
            return f"{k}={p[k]:.3g} rel={p['rel_mean']:.1e}"
    return f"rel_max={p['rel_max']:.1e} rel_mean={p['rel_mean']:.1e}"


def cells(row: dict) -> list[str]:
    out = []
    for key, _ in COLUMNS:
        v = row.get(key)
        if key == "parity":
            v = parity_text(v)
        elif key == "status" and row.get("reason"):
            v = f"{v}: {row['reason']}"
        out.append("-" if v is None else str(v))
    return out


def format_table(rows: list[dict]) -> str:
    table = [[h for _, h in COLUMNS]] + [cells(r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in table)


__all__ = ["bench", "run_one", "format_table", "cells", "COLUMNS", "BundleError"]
