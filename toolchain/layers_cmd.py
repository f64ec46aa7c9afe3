"""The report of `animetool verify BUNDLE --layers` (numbers from layers.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from rich.table import Table

from animetool.console import console, fail, table_console


def _module(entry, spec: Optional[str]):
    """The PyTorch model a bundle entry was exported from: --model, else its registered architecture, if the weights
    are the ones it was exported with (by sha256)."""
    from animetool.export.sources import resolve
    from animetool.export.verify import torch_input_shape

    src = resolve(spec or entry.source.get("architecture") or entry.name, torch_input_shape(entry))
    want, have = entry.source.get("weights_sha256"), src.provenance.get("weights_sha256")
    if spec is None and want and have != want:
        fail(f"{entry.name}: the bundle was exported from other weights than the registered ones; pass --model "
             "CHECKPOINT")
    return src.module


def layers_report(bundle: Path, spec: Optional[str], plot_path: Optional[Path], as_json: bool) -> None:
    from animetool_runtime import load
    from animetool_runtime.manifest import BundleError

    from animetool.data.images import InputError
    from animetool.export.layers import layer_errors, plot
    from animetool.export.sources import SourceError

    if plot_path and not plot_path.parent.is_dir():
        fail(f"--plot {plot_path}: folder {plot_path.parent} does not exist")
    try:
        b = load(bundle)
        by_model: dict = {}
        for e in b.manifest.models:
            by_model.setdefault(e.name, []).append(e)
        reports = {}
        with console.status(f"layers of {bundle}"):
            for name, entries in by_model.items():
                reports[name] = layer_errors(b.root, entries, _module(entries[0], spec))
    except (BundleError, SourceError, InputError) as e:
        fail(str(e))
    if plot_path:
        for name, r in reports.items():
            out = plot_path if len(reports) == 1 else plot_path.with_name(f"{plot_path.stem}-{name}{plot_path.suffix}")
            plot(r, out)
    if as_json:
        print(json.dumps(reports, indent=2))
        return
    show = table_console()
    for name, r in reports.items():
        keys = list(r["files"])
        t = Table("layer", *keys, title=f"{name}: mean |file - PyTorch| / range, per layer")
        for p in r["layers"]:
            t.add_row(p, *[f"{r['files'][k][p]:.1e}" if p in r["files"][k] else "-" for k in keys])
        t.add_row("first layer over the file's bound", *[r["first_over"][k] or "none" for k in keys], style="bold")
        show.print(t)
        for k, why in r["skipped"].items():
            show.print(f"{k}: {why}", highlight=False, soft_wrap=True)
