"""The shape every command shares, here once for both command lines (`animetool`, the toolchain's Typer CLI, and
`python -m animetool_runtime`, argparse on a phone): the options the runtime's commands take, with their defaults and
help; the exit codes; the one-line error, warning and summary texts.

A failure is one line `error: <file or option>: <fault>` on stderr and exit code 2; Ctrl-C or SIGTERM is one line and
130, as a shell's; a run that finished with failed rows (bench, verify) exits 1; --json prints the result on stdout and
nothing else there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BAD_INPUT, INTERRUPTED, SOME_FAILED = 2, 130, 1


@dataclass(frozen=True)
class Opt:
    """One option of a runtime command: its default, its help and, where it has them, its choices."""

    default: Any
    help: str
    choices: tuple[str, ...] = ()


BACKGROUNDS = ("original", "blur", "plain", "side-by-side")

ANIMATE = {
    "bundle": Opt(None, "bundle with a pose and a generator model (default: the built-in default models' bundle, "
                        "which `animetool animate` exports once and caches)"),
    "backend": Opt(None, "tflite, onnx or openvino (default: tflite for the default models, else the first installed "
                         "one the bundle has)"),
    "precision": Opt(None, "int8, fp16 or fp32 (default: the smallest that passed parity)"),
    "threads": Opt(1, "threads per model (decoding and encoding have threads of their own)"),
    "max_people": Opt(4, "draw at most this many people per frame"),
    "background": Opt("original", "original (the scene without its people), blur, plain or side-by-side", BACKGROUNDS),
    "size": Opt(None, "generator resolution in px (default: the largest in the bundle)"),
    "json": Opt(False, "print per-frame timings (decode, pose, generator, composite, encode) and a summary as JSON"),
}

BENCH = {
    "backend": Opt(None, "only these backends (repeatable)"),
    "threads": Opt("1", "comma list of thread counts, e.g. 1,2"),
    "runs": Opt(50, "timed runs per row"),
    "warmup": Opt(5, "untimed runs first"),
    "save": Opt(None, "also write the JSON result to this file"),
    "json": Opt(False, "print the result as JSON (with the device description)"),
}


def error_line(message: str) -> str:
    return f"error: {message}"


def interrupted_message(out: Any) -> str:
    return f"{out}: interrupted; nothing was written"


def thread_counts(text: str) -> list[int]:
    """--threads "1,2" -> [1, 2]; ValueError with the option named otherwise."""
    try:
        counts = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--threads {text!r}: expected integers like 1,2") from None
    if not counts or min(counts) < 1:
        raise ValueError(f"--threads {text!r}: expected positive integers like 1,2")
    return counts


def animate_summary(result: dict) -> str:
    """The line `animate` ends with when not --json."""
    ms = result.get("ms_mean", {})
    return (f"wrote {result['output']}: {result['frames']} frames, {result['track_count']} people tracked, "
            f"{result['fps']} frames/s ({result['backend']}, generator at {result['size']} px"
            + ("; ms per frame: " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items()) if ms else "") + ")")


def bench_failed(result: dict) -> bool:
    return any(r["status"] in ("failed", "export-failed") for r in result["rows"])
