"""Export sources to targets x precisions and write the bundle atomically: all of it appears, or none of it."""
from __future__ import annotations

import contextlib
import glob
import os
import re
import signal
import sys
import sysconfig
import threading
import time
import traceback
import zipfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from animetool_runtime.backends import trust
from animetool_runtime.formats import FORMATS
from animetool_runtime.manifest import MANIFEST, Manifest, ModelEntry, sha256_path, size_bytes

from animetool import __version__
from animetool.data import calib
from animetool.export import ExportJob, targets
from animetool.export.mixed import calibration_check, keep_float_for, ranked_layers, search
from animetool.export.files import atomic_output, quiet_native, remove, write_manifest
from animetool.export.sources import Source

CALIB_COUNT, REFERENCE_COUNT = 32, 4


class ExportError(RuntimeError):
    """An exporter failed; the message names the model, target and precision."""


class _Sigint:
    """Whether Ctrl-C came during export_bundle. Python drops a KeyboardInterrupt raised inside a finalizer (__del__,
    e.g. during torch.export), and tools re-wrap it, so the export also checks this between steps and before committing."""

    seen = False

    @staticmethod
    def handler(signum, frame):
        _Sigint.seen = True
        raise KeyboardInterrupt

    @staticmethod
    def unraisable(u) -> None:
        """A Ctrl-C a finalizer swallowed stays silent (handler already set seen); Python would print its traceback."""
        if not issubclass(u.exc_type, KeyboardInterrupt):
            sys.__unraisablehook__(u)


@contextlib.contextmanager
def _noting_sigint() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    _Sigint.seen = False
    signal.signal(signal.SIGINT, _Sigint.handler)
    hook = sys.unraisablehook
    sys.unraisablehook = _Sigint.unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.unraisablehook = hook


def _check_interrupt() -> None:
    if _Sigint.seen:
        raise KeyboardInterrupt


def _interrupted(e: BaseException) -> bool:
    """True after a Ctrl-C, or when a KeyboardInterrupt lies in e's cause/context chain (torch.export re-raises it as its own error)."""
    if _Sigint.seen:
        return True
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def is_bundle(path: Path) -> bool:
    """A folder with a manifest.json, or a zip with one at its root: what export may replace."""
    if path.is_dir():
        return (path / MANIFEST).is_file()
    try:
        with zipfile.ZipFile(path) as zf:
            return MANIFEST in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def refuse_non_bundle(out: Path) -> None:
    """Export replaces an earlier bundle at OUT and nothing else: a user's folder or file there stays as it is. And
    OUT must be writable: its nearest existing parent is a folder we may write in."""
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ExportError(f"{out}: {parent} is a file, not a folder")
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{out}: cannot write in {parent} (permission denied)")
    if out.is_symlink() or (out.exists() and not is_bundle(out)):
        kind = "link" if out.is_symlink() else "folder" if out.is_dir() else "file"
        raise ExportError(f"{out}: a {kind} that is not an animetool bundle is there; refusing to replace it "
                          "(choose another -o, or move it away)")


def _reference(source: Source, inputs: list[np.ndarray], root: Path) -> str:
    """PyTorch fp32 outputs on held-out real inputs, stored so verify and bench compare every file to the same numbers."""
    outs: dict[str, list[np.ndarray]] = {n: [] for n in source.output_names}
    with torch.no_grad():
        for x in inputs:
            ys = source.module(torch.from_numpy(x))
            for n, y in zip(source.output_names, ys if isinstance(ys, (tuple, list)) else [ys]):
                outs[n].append(y.numpy()[0])
    rel = f"reference/{source.name}.npz"
    (root / "reference").mkdir(exist_ok=True)
    np.savez_compressed(root / rel, input=np.concatenate(inputs),
                        **{f"output:{n}": np.stack(v) for n, v in outs.items()})
    return rel


_DATA_DEPENDENT = ("GuardOnDataDependentSymNode", "DataDependentOutputException", "UserError")
REASON_CHARS = 300


def _model_frame(chain: list[BaseException]) -> traceback.FrameSummary | None:
    """The innermost line of the user's own code in the failures' tracebacks (not Python's, a package's or ours)."""
    skip = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
            str(Path(__file__).parent))
    for c in reversed(chain):
        frames = [f for f in traceback.extract_tb(c.__traceback__) if not f.filename.startswith(skip)
                  and not f.filename.startswith("<") and "site-packages" not in f.filename]
        if frames:
            return frames[-1]
    return None


def failure_reason(e: BaseException) -> str:
    """One line for a converter's failure: the innermost cause's first line (a wrapper's "Failed to export ... Next
    steps:" says nothing), what a data-dependent graph means, the model's source line where a tool names it, at most
    REASON_CHARS characters (a detector's dump can be a 5,000-character line)."""
    chain, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    texts = [re.sub(r"\x1b\[[0-9;]*m", "", str(c)).strip() for c in chain]  # torch colours its errors
    inner = next(((c, t) for c, t in zip(reversed(chain), reversed(texts)) if t), (chain[0], ""))
    msg = inner[1].splitlines()[0].strip() if inner[1] else type(inner[0]).__name__
    if type(inner[0]).__name__ in _DATA_DEPENDENT and "data-dependent" in msg:
        msg = ("the graph depends on the input's values (a Python if on a tensor, .item(), a detector's NMS or decoding "
               "inside forward): keep that out of the exported model, or use torch.cond")
    where = _model_frame(chain)
    if where:
        msg += f"; at {Path(where.filename).name}:{where.lineno}: {where.line}"
    return msg if len(msg) <= REASON_CHARS else msg[:REASON_CHARS - 1] + "…"


def _run(target, job: ExportJob, name: str):
    """The target's exporter on one job; its faults become one-line ExportErrors, a Ctrl-C stays an interrupt."""
    try:
        with quiet_native():
            return target.fn(job)
    except ImportError as e:
        if _interrupted(e):
            raise KeyboardInterrupt from None
        raise ExportError(f"{target.name} export needs its tools ({e}); pip install 'animetool[{target.extra}]'") from None
    except Exception as e:
        if _interrupted(e):  # a tool turned Ctrl-C into its own error: still an interrupt
            raise KeyboardInterrupt from None
        msg = failure_reason(e)
        hint = "" if os.environ.get("ANIMETOOL_VERBOSE") else " (ANIMETOOL_VERBOSE=1 shows the tools' log)"
        raise ExportError(f"{name}: {target.name} {job.precision} export failed: {msg}{hint}") from e


def _remove_partial(root: Path, stem: str, fmt: str) -> None:
    """What a failed exporter left of its file (stem + the format's suffixes: an OpenVINO .bin, ONNX external data, an
    .mlpackage folder), so the bundle holds only files its manifest lists; other formats' files of stem stay."""
    for name in FORMATS[fmt].files(stem):
        for p in root.glob(f"{glob.escape(name)}*"):
            remove(p)


def _entry(src: Source, tname: str, job: ExportJob, res, root: Path, calib_path: Path | None, ref: str,
           seconds: float) -> ModelEntry:
    """The manifest entry of a file just written."""
    if FORMATS[tname].probed:  # made here by the target's own tool: no child-process probe needed
        trust(FORMATS[tname].backend, root / res.file)
    details = dict(res.details, seconds=round(seconds, 2), size_bytes=size_bytes(root / res.file),
                   calibration_samples=len(job.calib) if job.precision == "int8" else 0,
                   **({"kept_float": list(job.keep_float)} if job.precision == "int8" else {}),
                   calibration_data=str(calib_path) if calib_path else calib.default_source(src.task, src.preprocess))
    return ModelEntry(name=src.name, task=src.task, format=tname, precision=job.precision, file=res.file,
                      sha256=sha256_path(root / res.file), inputs=res.inputs, outputs=res.outputs,
                      preprocess=src.preprocess, postprocess=src.postprocess,
                      source=dict(src.provenance, recipe=" ".join(["animetool"] + sys.argv[1:])), export=details,
                      reference=ref)


def export_bundle(sources: list[Source], target_names: list[str], precisions: list[str], calib_path: Path | None,
                  out: Path, on_step: Callable[[str], None] = lambda s: None, check: bool = True,
                  keep_float: str = "auto") -> Manifest:
    """Every source x target x precision into one bundle with its manifest and reference outputs; with check, every
    file is then run against PyTorch as `animetool verify` does and its parity is in the manifest from the start.
    keep_float: which layers int8 files leave in float (keep_float_for). A cell whose exporter fails is listed in the
    manifest's `failed` with its one-line reason and the others go on; nothing is written
    only when every cell failed."""
    from animetool.export.verify import verify_entry  # verify imports this module

    refuse_non_bundle(Path(out))
    table = targets()
    entries: list[ModelEntry] = []
    failed: list[dict[str, str]] = []
    with _noting_sigint(), atomic_output(out) as root:
        for src in sources:
            with quiet_native():  # default generator calibration runs the pose teacher: LiteRT's INFO line
                inputs = calib.load_inputs(calib_path, src.input_shape, src.preprocess, CALIB_COUNT + REFERENCE_COUNT,
                                           task=src.task, calibrate="int8" in precisions)
            held = min(REFERENCE_COUNT, len(inputs) // 5)
            calib_inputs, ref_inputs = (inputs[:-held], inputs[-held:]) if held else (inputs, inputs[:REFERENCE_COUNT])
            ref = _reference(src, ref_inputs, root)
            example = torch.from_numpy(ref_inputs[0])
            floats = keep_float_for(src, keep_float, calib_inputs) if "int8" in precisions else ()
            check_calib = calibration_check(src.module, calib_inputs, ref_inputs if held else []) \
                if "int8" in precisions else None
            sensitive: list[str] | None = None

            def ranked() -> list[str]:  # measured once per model, only when an int8 file misses its bar
                nonlocal sensitive
                if sensitive is None:
                    sensitive = ranked_layers(src.module, calib_inputs)
                return sensitive

            for tname in target_names:
                target = table[tname]
                for prec in precisions:
                    if prec not in target.precisions:
                        continue
                    on_step(f"{src.name} -> {tname} {prec}")

                    def export_with(kept: tuple[str, ...]) -> ModelEntry:
                        job = ExportJob(module=src.module, example=example, precision=prec, calib=calib_inputs,
                                        out_dir=root, stem=f"{src.name}.{prec}", output_names=list(src.output_names),
                                        keep_float=kept)
                        start = time.perf_counter()
                        res = _run(target, job, src.name)
                        entry = _entry(src, tname, job, res, root, calib_path, ref, time.perf_counter() - start)
                        if prec == "int8":
                            entry.export["calibration_check"] = check_calib
                        return entry

                    try:
                        if prec == "int8" and keep_float == "auto":
                            entry, tries = search(export_with, lambda e: verify_entry(root, e, threads=1), floats, ranked)
                            if len(tries) > 1:
                                entry.export["float_search"] = tries
                        else:
                            entry = export_with(floats if prec == "int8" else ())
                        entries.append(entry)
                    except ExportError as e:  # keep going, like `yolo benchmark`: the cell gets a row with its reason
                        failed.append({"name": src.name, "format": tname, "precision": prec, "reason": str(e)})
                        _remove_partial(root, f"{src.name}.{prec}", tname)
                    _check_interrupt()
        if not entries:
            raise ExportError(failed[0]["reason"] if len(failed) == 1 else
                              f"{len(failed)} exports failed, nothing written; the first: {failed[0]['reason']}")
        manifest = Manifest(models=entries, created_by=f"animetool {__version__}", failed=failed)
        _check_interrupt()
        write_manifest(root, manifest)
        if check:
            from animetool_runtime import load

            from animetool.export.verify import verify_bundle

            bundle = load(root)
            verify_bundle(bundle, on_entry=lambda e, r: (_check_interrupt(), on_step(f"checked {e.key}: {r['status']}")))
            manifest = bundle.manifest
            write_manifest(root, manifest)
    return manifest

