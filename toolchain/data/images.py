"""Reading a user's image files: one set of suffixes, one reader, one error that names the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class InputError(ValueError):
    """An input file (image, array, calibration set) that cannot be used; the message names the file and the fault."""


def read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"{path}: cannot read image ({e})") from None
