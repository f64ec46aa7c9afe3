"""The manifest's schema, checked before anything is built from it: every fault is one BundleError naming the manifest,
the field (as a path like models[2].inputs[0].shape) and what is wrong. Apps and tools read the same rules here."""
from __future__ import annotations

import re
from typing import Any

from .blocks import BlockError, Postprocess, Preprocess, _int, _num, one_of as _one_of
from .formats import FORMATS
from .manifest import BundleError

TASKS = ("pose", "generator", "generic")
DTYPES = {"float32": None, "float16": None, "int8": (-128, 127), "uint8": (0, 255), "int32": (-2**31, 2**31 - 1),
          "int64": (-2**63, 2**63 - 1)}
LAYOUTS = ("NCHW", "NHWC")


def _block(check: "_Check", block: Any, at: str, cls) -> Any:
    """The typed block (blocks.py: each field's rule and default live there), or the check's one-line fault."""
    try:
        return cls.from_dict(block) if isinstance(block, dict) else check(False, at, "an object", block)
    except BlockError as e:
        check(False, f"{at}.{e.key}", e.what, e.value)


class _Check:
    def __init__(self, where: str):
        self.where = where

    def __call__(self, ok: bool, field: str, what: str, value: Any) -> None:
        if not ok:
            shown = repr(value)
            raise BundleError(f"{self.where}: {field} must be {what}, got {shown[:80]}{'...' if len(shown) > 80 else ''}")


def _tensor(check: _Check, t: Any, at: str) -> None:
    check(isinstance(t, dict), at, "an object", t)
    check(isinstance(t.get("name"), str) and t["name"] != "", f"{at}.name", "a non-empty string", t.get("name"))
    shape = t.get("shape")
    check(isinstance(shape, list) and 1 <= len(shape) <= 8 and all(_int(d) and (d >= 1 or d == -1) for d in shape),
          f"{at}.shape", "a list of 1-8 dimensions (positive integers, or -1)", shape)
    check(isinstance(t.get("dtype"), str) and t["dtype"] in DTYPES, f"{at}.dtype", f"one of {', '.join(DTYPES)}", t.get("dtype"))
    check(_one_of(*LAYOUTS)(t.get("layout", "NCHW")), f"{at}.layout", "NCHW or NHWC", t.get("layout"))
    scale, zp = t.get("scale"), t.get("zero_point")
    check(scale is None or (_num(scale) and scale > 0), f"{at}.scale", "a positive number or null", scale)
    bounds = DTYPES[t["dtype"]]
    check(zp is None or (_int(zp) and bounds is not None and bounds[0] <= zp <= bounds[1]), f"{at}.zero_point",
          "null, or an integer the dtype holds", zp)
    check((scale is None) == (zp is None), f"{at}.scale", "given together with zero_point", scale)


def _fits_input(check: _Check, pre: Preprocess, e: dict, at: str) -> None:
    """Pre-processing makes exactly the first input: its size (and a generator's channel count and conditioning
    layout) match that tensor."""
    first = e["inputs"][0]
    if pre.size is None or len(first["shape"]) != 4:
        return
    nhwc = first.get("layout", "NCHW") == "NHWC"
    h, w = first["shape"][1:3] if nhwc else first["shape"][2:4]
    c = first["shape"][3] if nhwc else first["shape"][1]
    check(h < 1 or w < 1 or list(pre.size) == [h, w], f"{at}.preprocess.size", f"the input's height and width {[h, w]}",
          list(pre.size))
    check(c < 1 or pre.channels is None or pre.channels == c, f"{at}.preprocess.channels", f"the input's {c} channels",
          pre.channels)
    cond = pre.conditioning
    check(c < 1 or cond is None or not cond.groups or cond.channels == c, f"{at}.preprocess.conditioning.groups",
          f"groups whose channels add up to the input's {c}", cond.channels if cond else None)


def _entry(check: _Check, e: Any, at: str) -> None:
    check(isinstance(e, dict), at, "an object", e)
    for key in ("name", "precision", "file"):
        check(isinstance(e.get(key), str) and e[key] != "", f"{at}.{key}", "a non-empty string", e.get(key))
    check(_one_of(*TASKS)(e.get("task")), f"{at}.task", f"one of {', '.join(TASKS)}", e.get("task"))
    check(isinstance(e.get("format"), str) and e["format"] in FORMATS, f"{at}.format", f"one of {', '.join(FORMATS)}", e.get("format"))
    check(isinstance(e.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", e["sha256"]) is not None,
          f"{at}.sha256", "the file's sha256 (64 hex digits): every bundle file must have one", e.get("sha256"))
    for key in ("inputs", "outputs"):
        check(isinstance(e.get(key), list) and 1 <= len(e[key]) <= 64, f"{at}.{key}", "a list of 1-64 tensors", e.get(key))
        for j, t in enumerate(e[key]):
            _tensor(check, t, f"{at}.{key}[{j}]")
    pre = _block(check, e.get("preprocess", {}), f"{at}.preprocess", Preprocess)
    _fits_input(check, pre, e, at)
    _block(check, e.get("postprocess", {}), f"{at}.postprocess", Postprocess)
    for key in ("source", "export"):
        check(isinstance(e.get(key, {}), dict), f"{at}.{key}", "an object", e.get(key))
    check(e.get("reference") is None or (isinstance(e["reference"], str) and e["reference"] != ""), f"{at}.reference",
          "null or a file name", e.get("reference"))
    check(e.get("parity") is None or isinstance(e["parity"], dict), f"{at}.parity", "null or an object", e.get("parity"))


def validate(data: Any, where: str) -> None:
    """Raise one BundleError for the first fault in a parsed manifest (schema checked by the caller first)."""
    check = _Check(where)
    check(isinstance(data, dict), "manifest", "an object", data)
    check(isinstance(data.get("models"), list) and len(data["models"]) >= 1, "models", "a non-empty list", data.get("models"))
    check(isinstance(data.get("created_by", ""), str), "created_by", "a string", data.get("created_by"))
    for i, e in enumerate(data["models"]):
        _entry(check, e, f"models[{i}]")
    check(isinstance(data.get("failed", []), list), "failed", "a list", data.get("failed"))
    for i, f in enumerate(data.get("failed", [])):
        check(isinstance(f, dict) and all(isinstance(f.get(k), str) for k in ("name", "format", "precision", "reason")),
              f"failed[{i}]", "an object with name, format, precision and reason strings", f)
    keys = [(e["name"], e["format"], e["precision"]) for e in data["models"]]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    check(dup is None, "models", "one entry per name x format x precision", "/".join(dup) if dup else None)
