"""Runtime backends: one small module per backend, imported lazily, all with the same interface."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

import numpy as np

from ..formats import BY_BACKEND, FORMATS, Format
from ..manifest import BundleError, TensorSpec

ALIASES = {a: f.backend for f in FORMATS.values() for a in f.aliases}


class Session(Protocol):
    """A loaded model file. run() takes and returns arrays exactly as the file declares them (no (de)quantizing)."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]: ...


def backend_name(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in BY_BACKEND:
        raise BundleError(f"unknown backend {name!r}; choose from {', '.join(BY_BACKEND)} (or {', '.join(ALIASES)})")
    return name


def backend_format(name: str) -> Format:
    """The format a backend (or one of its aliases) runs."""
    return BY_BACKEND[backend_name(name)]


# Native runtimes can crash the process (SIGSEGV, SIGABRT) on corrupt but well-formed files: LiteRT did on 1 in 60
# structurally mutated .tflite files here. A file is first loaded and run once in a child process; a crash there is a
# BundleError here, and a file that passed is remembered by its sha256 (in the cache), so each is probed once
# (Format.probed).


def _mark(backend: str, path: Path) -> Path:
    """The cache marker of a file that loaded and ran cleanly: by the digest of all its parts (an .xml with its .bin)."""
    from ..bundle import cache_root
    from ..manifest import sha256_path

    return cache_root() / "probed" / f"{backend}-{sha256_path(path)}"


def trust(backend: str, path: Path) -> None:
    """Record a file as safe to load in-process without a probe: one this machine's exporter has just written."""
    mark = _mark(backend_name(backend), path)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.touch()


def _probe(backend: str, path: Path) -> None:
    import signal
    import subprocess
    import sys

    mark = _mark(backend, path)
    if mark.exists():
        return
    cmd = [sys.executable, "-m", "animetool_runtime", "_probe", backend, str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise BundleError(f"{path}: {backend} did not finish loading and running this file in 10 minutes") from None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name if -proc.returncode in signal.Signals._value2member_map_ else proc.returncode
        raise BundleError(f"{path}: {backend} crashed ({name}) loading and running this file in a child process: "
                          "a corrupt model file; refused")
    if proc.returncode == 0:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()


def probe_main(backend: str, path: str) -> int:
    """The child side of the probe: load, run once on zeros. A Python error is left to the parent's own load."""
    mod = importlib.import_module(f"{__name__}.{backend_name(backend)}")
    session = mod.Backend(Path(path), threads=1)
    session.run([np.zeros([d if d > 0 else 1 for d in s.shape], np.dtype(s.dtype)) for s in session.inputs])
    return 0


def open_session(backend: str, path: Path, threads: int | None = None) -> Session:
    """Load a model file with a backend; a missing backend package is an error that names the extra to install."""
    fmt = backend_format(backend)
    backend = fmt.backend
    mod = importlib.import_module(f"{__name__}.{backend}")
    try:
        mod.check_available()
    except ImportError as e:
        raise BundleError(f"backend {backend} is not installed ({e}); pip install 'animetool-runtime[{fmt.extra}]'") from None
    if not Path(path).exists():
        raise BundleError(f"{path}: model file not found")
    if fmt.probed:
        _probe(backend, Path(path))
    try:
        return mod.Backend(Path(path), threads=threads)
    except BundleError:
        raise
    except Exception as e:  # backends raise many types for a corrupt file; report it in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BundleError(f"{path}: {backend} cannot load this model ({first})") from None
