"""Bundle files on disk: a bundle is written whole or not at all, and native tools' chatter stays off the terminal."""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

from animetool_runtime.atomic import atomic_path
from animetool_runtime.manifest import MANIFEST, Manifest


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library handle (Windows): nothing buffered we could reach anyway
        pass


@contextlib.contextmanager
def quiet_native() -> Iterator[None]:
    """Send fd 1 and 2 to a scratch file while a converter runs: C++ tools (absl, XNNPACK, oneDNN) log there directly.

    ANIMETOOL_VERBOSE=1 keeps them. Our own console writes to a duplicate of the original stderr, so it stays visible.
    """
    if os.environ.get("ANIMETOOL_VERBOSE"):
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            _flush_c_stdio()  # else C's buffered lines (LiteRT's "INFO: Created ... delegate") reach the terminal at exit
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE, macOS renamex_np RENAME_SWAP); False where the
    system or file system cannot, and the caller falls back to two renames."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if sys.platform == "darwin":
            return libc.renamex_np(os.fsencode(a), os.fsencode(b), 0x2) == 0
        return libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2) == 0  # AT_FDCWD, RENAME_EXCHANGE
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove(p: Path) -> None:
    """A file, link or folder gone (a link is removed, never followed)."""
    shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)


def recover(out: Path) -> None:
    """Tidy what a killed export (kill -9, power loss) left beside OUT: its partial folder or zip goes; an old bundle
    it had moved aside comes back to OUT if OUT is missing (only the two-rename fallback can leave that)."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(partial|old)-(\d+)(\.zip)?$")
    for p in sorted(out.parent.iterdir()) if out.parent.is_dir() else []:
        m = pattern.match(p.name)
        if not m or _alive(int(m.group(2))):
            continue
        if m.group(1) == "old" and not out.exists() and not out.is_symlink():
            p.rename(out)
        else:
            remove(p)


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """Yield a temporary folder beside out; on success it becomes out (folder, or .zip) in one atomic swap, so OUT
    always holds a whole bundle, the old or the new; on any failure the temporary folder is removed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    recover(out)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        final = tmp
        if out.suffix == ".zip":
            final = out.parent / f".{out.name}.partial-{os.getpid()}.zip"
            with zipfile.ZipFile(final, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(tmp.rglob("*")):
                    zf.write(f, f.relative_to(tmp).as_posix())
            shutil.rmtree(tmp)
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if not out.exists():
            final.rename(out)
        elif final.is_file() and out.is_file():
            final.replace(out)  # one rename replaces a file atomically
        elif _exchange(final, out):
            old = final  # the old bundle now sits at the temporary name
        else:
            out.rename(old)
            final.rename(out)
        remove(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        Path(f"{tmp}.zip").unlink(missing_ok=True)
        raise


def write_manifest(root: Path, manifest: Manifest) -> None:
    with atomic_path(root / MANIFEST) as tmp:
        tmp.write_text(manifest.to_json())
