"""Files written whole or not at all: each writer writes a temporary name beside the target, renamed over it once
complete; on any failure (an error, Ctrl-C) the temporary file is removed and the target is left as it was."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """with atomic_path(dest) as tmp: write tmp. dest appears complete when the block ends, or not at all."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
