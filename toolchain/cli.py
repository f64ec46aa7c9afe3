"""The animetool command line: export, lint, verify, bench, animate, demo, models, data, teacher, distill, train."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from animetool_runtime.atomic import atomic_path
from animetool_runtime.commands import BENCH, SOME_FAILED, bench_failed, interrupted_message, thread_counts
from animetool_runtime.formats import BY_BACKEND, FORMATS

from animetool.animate_cmd import animate
from animetool.console import console, fail, interrupted, parse_norm, parse_shape, progress, quiet_tools, table_console
from animetool.demo import demo
from animetool.lint_cmd import MEAN_HELP, STD_HELP, lint
from animetool.train_cmd import data, distill_app, train_app

quiet_tools()
app = typer.Typer(help="Distill, quantize, export and benchmark pose and anime-generator networks for phones.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


def _user_errors() -> tuple[type[Exception], ...]:
    from animetool_runtime.manifest import BundleError

    from animetool.export.build import ExportError
    from animetool.data.images import InputError
    from animetool.export.sources import SourceError

    return (BundleError, InputError, SourceError, ExportError)


def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@app.command()
def export(
    model: Optional[List[str]] = typer.Argument(None, help="registered name, checkpoint file, or package.module:factory; "
                                                           "none = the built-in default models"),
    target: List[str] = typer.Option(["onnx"], "--target", "-t", help=f"{', '.join(FORMATS)} or all (repeat or comma list)"),
    precision: List[str] = typer.Option(["fp32"], "--precision", "-p", help="fp32, fp16, int8 or all; Core ML also w8, palette4"),
    calib: Optional[Path] = typer.Option(None, help="folder of images or .npy inputs for int8 calibration "
                                                    "(default: scikit-image's sample photos)"),
    input_shape: Optional[str] = typer.Option(None, help="input shape for package.module:factory models, e.g. 1,3,224,224"),
    mean: Optional[str] = typer.Option(None, help=MEAN_HELP),
    std: Optional[str] = typer.Option(None, help=STD_HELP),
    imgsz: Optional[str] = typer.Option(None, help="image input size N or H,W instead of each model's own "
                                                   "(fully convolutional models; multiples of 32)"),
    keep_float: str = typer.Option("auto", help="int8: module paths to leave in float (comma list); auto: the layers "
                                                "`animetool lint` measures wasting int8's range; none: quantize all"),
    out: Path = typer.Option(..., "--out", "-o", help="bundle folder, or a path ending in .zip"),
    as_json: bool = typer.Option(False, "--json", help="print the manifest as JSON"),
) -> None:
    """Export models into one bundle (model files + manifest.json), written atomically."""
    from animetool.export.build import export_bundle
    from animetool.export import PRECISIONS, targets
    from animetool.models import default_models
    from animetool.export.sources import resized, resolve

    table = targets()
    tnames = list(table) if "all" in _split(target) else _split(target)
    for t in tnames:
        if t not in table:
            fail(f"unknown target {t!r}; choose from {', '.join(table)} or all")
    precs = list(PRECISIONS) if "all" in _split(precision) else _split(precision)
    known = {p for t in table.values() for p in t.precisions}
    for p in precs:
        if p not in known:
            fail(f"unknown precision {p!r}; choose from {', '.join(sorted(known))} or all")
    try:
        sources = [resolve(m, parse_shape(input_shape), parse_norm(mean, std)) for m in (model or default_models())]
        if imgsz:
            hw = parse_shape(imgsz, "--imgsz")
            if len(hw) not in (1, 2):
                fail(f"--imgsz {imgsz!r}: expected N or H,W")
            sources = [resized(s, hw[0], hw[-1]) for s in sources]
        steps = 2 * sum(1 for _ in sources for t in tnames for p in precs if p in table[t].precisions)  # export, check
        with progress(transient=as_json) as bar:
            task = bar.add_task("export", total=steps)

            def step(desc: str) -> None:
                if bar.tasks[task].description != "export":
                    bar.advance(task)
                bar.update(task, description=desc)

            manifest = export_bundle(sources, tnames, precs, calib, out, on_step=step, keep_float=keep_float)
            bar.update(task, completed=steps, description="done")
    except _user_errors() as e:
        fail(str(e))
    except OSError as e:  # disk full, permissions changed mid-way: the atomic write left nothing behind
        fail(f"{out}: cannot write the bundle ({e.strerror or e}); nothing was written")
    except KeyboardInterrupt:
        interrupted(interrupted_message(out))
    if as_json:
        print(manifest.to_json())
    else:
        _export_summary(out, manifest)
    if manifest.failed:
        raise typer.Exit(SOME_FAILED)


def _export_summary(out: Path, manifest) -> None:
    """What `yolo export` ends with: each file written, its size and parity, and the commands to run next."""
    from animetool.export.verify import summary

    show = table_console()
    show.print(f"wrote {out}", highlight=False, soft_wrap=True)
    t = Table("file", "MB", "status", "parity against PyTorch (worst output)")
    for e in manifest.models:
        style = "red" if e.parity["status"] in ("failed", "parity-failed") else None
        t.add_row(e.file, f"{e.export['size_bytes'] / 1e6:.3f}", e.parity["status"], summary(e, e.parity), style=style)
    for f in manifest.failed:
        t.add_row(f"{f['name']} {f['format']} {f['precision']}", "-", "export-failed", f["reason"], style="red")
    show.print(t)
    if manifest.failed:
        show.print(f"[red]{len(manifest.failed)} export(s) failed[/red]; the bundle holds the {len(manifest.models)} "
                   "that worked and its manifest lists the failed ones with their reasons", highlight=False, soft_wrap=True)
    for name, check in {e.name: e.export.get("calibration_check") for e in manifest.models if e.precision == "int8"}.items():
        if check and check["warning"]:
            show.print(f"[yellow]{name} int8 calibration:[/yellow] {check['warning']}", highlight=False, soft_wrap=True)
    failed = [e.key for e in manifest.models if e.parity["status"] in ("failed", "parity-failed")]
    if failed:
        show.print(f"[red]{len(failed)} file(s) outside the parity bounds[/red] ({', '.join(failed)}); the runtime "
                   f"picks passing files first. Details: animetool verify {out}", highlight=False, soft_wrap=True)
        for arg in sorted({_lint_arg(e) for e in manifest.models if e.key in failed and e.precision == "int8"}):
            show.print(f"int8 hazards (the layers, their ranges, the fix): animetool lint {arg}", highlight=False,
                       soft_wrap=True)
    show.print(f"next: animetool bench {out}   |   animetool animate VIDEO -o anime.mp4 --bundle {out}   |   "
               f"python -m animetool_runtime bench {out}  (on the phone or Pi)", highlight=False, soft_wrap=True)


def _lint_arg(entry) -> str:
    from animetool.export.verify import torch_input_shape

    arch = entry.source.get("architecture") or entry.name
    if ":" not in arch:
        return arch
    return f"{arch} --input-shape {','.join(str(d) for d in torch_input_shape(entry))}"


@app.command()
def verify(
    bundle: Path = typer.Argument(..., help="bundle folder or .zip"),
    layers: bool = typer.Option(False, "--layers", help="instead: every layer's error per file against PyTorch, and the "
                                                         "first layer over the file's bound"),
    model: Optional[str] = typer.Option(None, help="--layers: the PyTorch model (registered name, checkpoint or "
                                                   "module:factory), when the bundle's is not the registered one"),
    plot: Optional[Path] = typer.Option(None, help="--layers: also draw the errors per layer into this PNG"),
    as_json: bool = typer.Option(False, "--json", help="print the parity figures as JSON"),
) -> None:
    """Run every model of a bundle through the runtime against the PyTorch reference; record parity in the manifest.
    With --layers: the error of every layer's output, for each file, where each target departs from PyTorch."""
    from animetool_runtime import device

    from animetool.export.verify import summary, verify as run_verify

    if layers:
        from animetool.layers_cmd import layers_report

        return layers_report(bundle, model, plot, as_json)

    rows = []
    if not as_json:
        table_console().print(f"verify {bundle} on {device.short()}", highlight=False, soft_wrap=True)

    def show(entry, res):
        rows.append((entry.name, entry.format, entry.precision, res["status"], summary(entry, res)))
        if not as_json:
            console.print(f"  {entry.key}: {res['status']}", highlight=False)

    try:
        results = run_verify(bundle, on_entry=show)
    except _user_errors() as e:
        fail(str(e))
    if as_json:
        print(json.dumps([{"key": e.key, **r} for e, r in results], indent=2))
    else:
        t = Table("model", "format", "precision", "status", "parity (worst output)")
        for r in rows:
            t.add_row(*r)
        table_console().print(t)
    if any(r["status"] in ("failed", "parity-failed") for _, r in results):
        raise typer.Exit(SOME_FAILED)


@app.command()
def bench(
    bundle: Path = typer.Argument(..., help="bundle folder or .zip"),
    backend: Optional[List[str]] = typer.Option(BENCH["backend"].default, help=f"{BENCH['backend'].help}: {', '.join(BY_BACKEND)}"),
    threads: str = typer.Option(BENCH["threads"].default, help=BENCH["threads"].help),
    runs: int = typer.Option(BENCH["runs"].default, help=BENCH["runs"].help),
    warmup: int = typer.Option(BENCH["warmup"].default, help=BENCH["warmup"].help),
    save: Optional[Path] = typer.Option(BENCH["save"].default, help=BENCH["save"].help),
    as_json: bool = typer.Option(BENCH["json"].default, "--json", help=BENCH["json"].help),
) -> None:
    """Latency, FPS, size, parity and peak RSS of every model x format x precision (a fresh process per row)."""
    from animetool_runtime import device
    from animetool_runtime.bench import COLUMNS, bench as run_bench, cells

    try:
        n_threads = thread_counts(threads)
    except ValueError as e:
        fail(str(e))
    if save and not save.parent.is_dir():
        fail(f"--save {save}: folder {save.parent} does not exist")
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                      transient=True) as bar:
            task = bar.add_task("bench")
            result = run_bench(str(bundle), backend, n_threads, runs, warmup,
                               on_row=lambda r: bar.update(task, description=f"{r['model']} {r['format']} {r['precision']}"))
    except _user_errors() as e:
        fail(str(e))
    if save:
        with atomic_path(save) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        d = result["device"]
        t = Table(*[h for _, h in COLUMNS])
        for r in result["rows"]:
            t.add_row(*cells(r))
        table_console().print(f"bench {bundle} on {device.short(d)}, {d['os']}", highlight=False, soft_wrap=True)
        table_console().print(t)
    if bench_failed(result):
        raise typer.Exit(SOME_FAILED)


app.command("data")(data)
app.add_typer(distill_app, name="distill")
app.add_typer(train_app, name="train")
app.command("animate")(animate)
app.command("demo")(demo)
app.command("lint")(lint)


@app.command("models")
def list_models(as_json: bool = typer.Option(False, "--json", help="print as JSON")) -> None:
    """List the registered models (default ones marked)."""
    from animetool.models import REGISTRY

    rows = [{"name": m.name, "task": m.task, "input": list(m.input_shape), "default": m.default, "weights": m.weights}
            for m in REGISTRY.values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table("name", "task", "input", "default", "weights")
    for r in rows:
        t.add_row(r["name"], r["task"], str(r["input"]), "yes" if r["default"] else "", r["weights"] or "")
    table_console().print(t)


def _version(value: bool) -> None:
    if value:
        from animetool_runtime import __version__ as runtime_version

        from animetool import __version__

        print(f"animetool {__version__} (animetool-runtime {runtime_version})")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="print the version and exit")) -> None:
    """Distill, quantize, export and benchmark pose and anime-generator networks for phones."""


def _mount() -> None:
    from animetool.data.teachers import teacher_app

    app.add_typer(teacher_app, name="teacher", help="Fetch and run pose teachers (BlazePose from registry packages).")


_mount()

if __name__ == "__main__":
    sys.exit(app())
