"""The one console every command prints to, one-line failures, and the other tools' chatter turned down."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from animetool_runtime.commands import BAD_INPUT, INTERRUPTED, error_line

console = Console(file=os.fdopen(os.dup(2), "w"), emoji=False)  # a duplicate fd: build.quiet_native() silences fd 2


def table_console() -> Console:
    """Where tables go (stdout): the terminal's width, or 200 columns in a log or a pipe, where rich would squeeze
    them to 80 and cut the names."""
    out = Console()
    return out if out.is_terminal else Console(width=200)


def _error_line(msg: str) -> None:
    """commands.error_line's text, its `error:` in red."""
    head, _, rest = error_line(msg).partition(" ")
    console.print(f"[red]{head}[/red] {escape(rest)}", highlight=False, soft_wrap=True)  # paths may hold [ ] and :name:


def fail(msg: str) -> None:
    _error_line(msg)
    raise typer.Exit(BAD_INPUT)


def interrupted(msg: str) -> None:
    """Ctrl-C's one line, and the last one: a KeyboardInterrupt raised inside a tool (a finalizer, a traced op) can
    make it print its own stack at shutdown, so stderr is closed to everything after this line. Exit code 130, as a shell's."""
    _error_line(msg)
    console.file.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.dup2(devnull, console.file.fileno())
    os.close(devnull)
    raise typer.Exit(INTERRUPTED)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def stop_on_term():
    """`kill` (SIGTERM: job schedulers, `timeout`, a service stopping, or a job run in the background with nohup, where
    the shell ignores Ctrl-C) ends long work the way Ctrl-C does, through KeyboardInterrupt: what is done is saved and
    the same command resumes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def progress(count: str = "{task.completed}/{task.total}", transient: bool = False) -> Progress:
    """The bar every long command shows: spinner, what it is doing, bar, count, time; transient under --json."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn(count), TimeElapsedColumn(),
                    console=console, transient=transient)


def quiet_tools() -> None:
    """The exporters' own progress logs and warnings would bury ours; ANIMETOOL_VERBOSE=1 keeps them."""
    if os.environ.get("ANIMETOOL_VERBOSE"):
        return
    for key, value in {"LITERT_TORCH_SHOW_PROGRESS": "n", "TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "3",
                       "TQDM_DISABLE": "1"}.items():
        os.environ.setdefault(key, value)
    for category in (FutureWarning, DeprecationWarning, UserWarning, RuntimeWarning):
        warnings.filterwarnings("ignore", category=category)
    for name in ("coremltools", "torch", "torch.onnx", "torch.utils._pytree", "nncf", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def parse_shape(text: Optional[str], option: str = "--input-shape") -> Optional[tuple[int, ...]]:
    """--input-shape / --imgsz as a tuple of ints (None when not given)."""
    if not text:
        return None
    try:
        return tuple(int(t) for t in text.replace("x", ",").split(","))
    except ValueError:
        fail(f"{option} {text!r}: expected integers like 1,3,224,224")


def parse_norm(mean: Optional[str], std: Optional[str]) -> dict[str, list[float]]:
    """--mean/--std as {"mean": [...], "std": [...]} (only those given)."""
    out = {}
    for key, text in (("mean", mean), ("std", std)):
        if text:
            try:
                out[key] = [float(t) for t in text.split(",")]
            except ValueError:
                fail(f"--{key} {text!r}: expected numbers like 0.485,0.456,0.406")
    return out
