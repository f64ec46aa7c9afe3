"""`animetool animate`: the runtime's video pipeline with a progress bar, on the default models unless told otherwise."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from animetool_runtime.backends import backend_format
from animetool_runtime.bundle import default_bundle_path
from animetool_runtime.commands import ANIMATE, animate_summary, interrupted_message
from animetool_runtime.manifest import BundleError

from animetool.console import console, fail, interrupted


def default_bundle(backend: str, on_step=lambda s: None) -> Path:
    """The default models exported (int8) and verified for this backend, once: cached by a digest of their weights
    and of what the manifest says about them (input size, pre- and post-processing), so a change of either re-exports."""
    from animetool.export.build import export_bundle
    from animetool.models import REGISTRY, default_models
    from animetool.export.sources import resolve

    names = default_models()
    digest = hashlib.sha256()
    for n in names:
        info = REGISTRY[n]
        spec = json.dumps([list(info.input_shape), info.preprocess, info.postprocess], sort_keys=True)
        digest.update(n.encode() + info.weights_path.read_bytes() + spec.encode())
    fmt = backend_format(backend).name
    path = default_bundle_path(digest.hexdigest()[:12], fmt)
    if not (path / "manifest.json").is_file():
        on_step(f"exporting the default models to {fmt} int8 and checking them against PyTorch (once)")
        export_bundle([resolve(n) for n in names], [fmt], ["int8"], None, path, on_step=on_step)
    return path


def animate(
    src: Annotated[str, typer.Argument(help="video (or image) with people in it, or a built-in clip such as "
                                            "sports2d-demo or pose2sim-single-cam02 (fetched from PyPI, cached)",
                                            show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="anime video (.mp4; .png/.jpg for an image input)")],
    bundle: Annotated[Optional[Path], typer.Option(help=ANIMATE["bundle"].help)] = ANIMATE["bundle"].default,
    backend: Annotated[Optional[str], typer.Option(help=ANIMATE["backend"].help)] = ANIMATE["backend"].default,
    precision: Annotated[Optional[str], typer.Option(help=ANIMATE["precision"].help)] = ANIMATE["precision"].default,
    threads: Annotated[int, typer.Option(help=ANIMATE["threads"].help)] = ANIMATE["threads"].default,
    max_people: Annotated[int, typer.Option(help=ANIMATE["max_people"].help)] = ANIMATE["max_people"].default,
    background: Annotated[str, typer.Option(help=ANIMATE["background"].help)] = ANIMATE["background"].default,
    size: Annotated[Optional[int], typer.Option(help=ANIMATE["size"].help)] = ANIMATE["size"].default,
    as_json: Annotated[bool, typer.Option("--json", help=ANIMATE["json"].help)] = ANIMATE["json"].default,
) -> None:
    """Turn every person in a video into an anime character that moves the same way (pose -> tracks -> generator)."""
    from animetool_runtime.animate import animate as run

    from animetool.export.build import ExportError
    from animetool.export.files import quiet_native

    from animetool.data.footage import FOOTAGE, fetch_footage

    if not Path(src).exists() and src in FOOTAGE:
        src = str(fetch_footage([src])[src])
    if background not in ANIMATE["background"].choices:
        fail(f"--background {background!r}: choose from {', '.join(ANIMATE['background'].choices)}")
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[fps]}"), TimeElapsedColumn(), console=console, transient=as_json) as bar:
            task = bar.add_task("loading", total=None, fps="")
            with quiet_native():
                path = bundle or default_bundle(backend or "tflite", lambda s: bar.update(task, description=s))
                bar.update(task, description=f"animating {Path(src).name}")
                start = time.perf_counter()

                def on_frame(i: int, total: Optional[int], row: dict) -> None:
                    fps = i / (time.perf_counter() - start)
                    bar.update(task, completed=i, total=total, fps=f"{fps:.1f} frames/s")

                result = run(src, out, path, backend, precision, threads, max_people, background, size, on_frame)
    except (BundleError, ExportError, ValueError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        interrupted(interrupted_message(out))
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        console.print(animate_summary(result), highlight=False, soft_wrap=True)
