"""`animetool data`, `distill` and `train`: pseudo-labelled footage and the training commands (resumable, with progress)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.progress import Progress

from animetool.console import console, fail, interrupted, progress, stop_on_term


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
    """Extract frames of real footage and cache the teacher's pose pseudo-labels for distillation (the teacher also
    labels each frame's mirror image; training skips frames where it swaps someone's left and right)."""
    from animetool.data.poses import DEFAULT_SOURCES, DataError, build

    if every < 1 or (limit is not None and limit < 1):
        fail(f"--every {every} / --limit {limit}: both must be at least 1")
    from animetool.data.packages import PackageError

    try:
        with stop_on_term(), progress("{task.completed} frames", transient=as_json) as bar:
            task = bar.add_task("labelling", total=None)
            index = build(sources or DEFAULT_SOURCES, teacher, out, every, limit, threads,
                          on_item=lambda item, n: bar.update(task, description=f"{item.name}: {n} frames"),
                          on_frame=lambda: bar.advance(task))
    except (DataError, PackageError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        interrupted(f"{out}: interrupted; finished items are kept, run again to resume")
    if as_json:
        print(json.dumps(index, indent=2))
    else:
        splits = {}
        for meta in index["items"].values():
            splits[meta["split"]] = splits.get(meta["split"], 0) + meta["frames"]
        console.print(f"{out}: {len(index['items'])} items, " + ", ".join(f"{v} {k} frames" for k, v in splits.items()))


def _step_reporter(bar: Progress, task):
    """Progress bar on a terminal; otherwise (nohup logs) a plain line at the first step and every 100 steps."""

    def report(i: int, parts: dict) -> None:
        bar.update(task, completed=i, description=f"loss {parts['total']:.3f}")
        if not console.is_terminal and (i == 1 or i % 100 == 0):
            console.print(f"step {i}: " + " ".join(f"{k} {v:.4f}" for k, v in parts.items()), highlight=False)

    return report


distill_app = typer.Typer(help="Train compact students from teachers.", no_args_is_help=True)


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
    from animetool.models import REGISTRY

    names = sorted(n for n, m in REGISTRY.items() if m.task == task)
    if arch not in names:
        fail(f"--arch {arch}: not a registered {task} model ({', '.join(names)})")


def _train(out: Path, steps: int, as_json: bool, run) -> None:
    """Progress, one-line errors and the summary for every training command; run(on_step, on_stage) does the work."""
    from animetool.data.poses import DataError
    from animetool.data.packages import PackageError

    if steps < 1:
        fail(f"--steps {steps}: must be at least 1")
    try:
        with stop_on_term(), progress(transient=as_json) as bar:
            task = bar.add_task("training", total=steps)
            summary = run(_step_reporter(bar, task), lambda stage: bar.update(task, description=stage))
    except (DataError, PackageError, FileNotFoundError, ValueError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        interrupted(f"{out}: interrupted; run the same command again to resume from the last saved state")
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
    from animetool.train.distill import distill_pose

    _train(out, steps, as_json, lambda on_step, on_stage: distill_pose(
        teacher, data, out, steps, seed, arch, batch_size, state, size, on_step=on_step, on_stage=on_stage))


train_app = typer.Typer(help="Train teachers.", no_args_is_help=True)


@train_app.command("generator")
def train_generator_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="generator weights (.safetensors)")],
    data: DataOpt = Path("runs/posedata"),
    steps: Annotated[int, typer.Option(help="optimizer steps")] = 1500,
    seed: SeedOpt = 0,
    batch_size: Annotated[int, typer.Option(help="pairs per step")] = 8,
    arch: Annotated[str, typer.Option(help="registered generator architecture")] = "generator-teacher",
    init: InitOpt = None,
    gan: Annotated[bool, typer.Option(help="add a PatchGAN critic (pix2pix); --no-gan trains on the drawing loss "
                                           "alone, 3x faster per step")] = True,
    lr: Annotated[float, typer.Option(help="peak learning rate (AdamW, warm-up + cosine); lower to fine-tune")] = 2e-3,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a generator on the renderer's pose -> anime drawings (head-weighted L1, gradient L1, optionally GAN);
    resumable, shows progress."""
    from animetool.train.distill import train_generator

    _check_arch(arch, "generator")
    _check_init(init)
    _train(out, steps, as_json, lambda on_step, _: train_generator(
        data, out, steps, seed, arch, None, batch_size, state, init, on_step, gan, lr))


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
    from animetool.train.distill import train_generator

    _check_init(init)
    _train(out, steps, as_json, lambda on_step, _: train_generator(
        data, out, steps, seed, "generator-student", teacher, batch_size, state, init, on_step))
