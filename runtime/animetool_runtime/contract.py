"""The manifest's schema, checked before anything is built from it: every fault is one BundleError naming the manifest,
the field (as a path like models[2].inputs[0].shape) and what is wrong. Apps and tools read the same rules here."""
from __future__ import annotations

import math
import re
from typing import Any, Callable

from .formats import FORMATS
from .manifest import BundleError

TASKS = ("pose", "generator", "generic")
DTYPES = {"float32": None, "float16": None, "int8": (-128, 127), "uint8": (0, 255), "int32": (-2**31, 2**31 - 1),
          "int64": (-2**63, 2**63 - 1)}
LAYOUTS = ("NCHW", "NHWC")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return (_int(v) or isinstance(v, float)) and math.isfinite(v)


def _nums(n: int, ok: Callable[[Any], bool] = _num) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and len(v) == n and all(_num(x) and ok(x) for x in v)


def _one_of(*values: str) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in values


# key -> (test, what the value must be); optional keys are checked when present
PREPROCESS = {
    "size": (_nums(2, lambda x: _int(x) and 1 <= x <= 8192), "[height, width], integers 1-8192"),
    "resize": (_one_of("letterbox", "stretch"), "letterbox or stretch"),
    "pad_value": (_num, "a number"),
    "range": (lambda v: _nums(2)(v) and v[0] < v[1], "[low, high] with low < high"),
    "mean": (_nums(3), "three numbers"),
    "std": (_nums(3, lambda x: x != 0), "three non-zero numbers"),
    "kind": (_one_of("image", "conditioning", "tensor"), "image, conditioning or tensor"),
    "fill": (lambda v: _num(v) and 0 < v <= 1, "a number in (0, 1]"),
    "channels": (lambda v: _int(v) and v >= 1, "a positive integer"),
    "layout": (lambda v: _int(v) and v >= 1, "a positive integer (the conditioning layout's version)"),
}
POSTPROCESS = {
    "decoder": (lambda v: isinstance(v, str), "a decoder name"),
    "stride": (lambda v: _int(v) and 1 <= v <= 1024, "an integer 1-1024"),
    "center_threshold": (lambda v: _num(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "max_people": (lambda v: _int(v) and 1 <= v <= 1000, "an integer 1-1000"),
    "range": (lambda v: _nums(2)(v) and v[0] < v[1], "[low, high] with low < high"),
}


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


def _block(check: _Check, block: Any, at: str, rules: dict) -> None:
    check(isinstance(block, dict), at, "an object", block)
    for key, (ok, what) in rules.items():
        if key in block:
            check(ok(block[key]), f"{at}.{key}", what, block[key])


def _fits_input(check: _Check, e: dict, at: str) -> None:
    """Pre-processing makes exactly the first input: its size (and a generator's channel count) match that tensor."""
    pre, first = e.get("preprocess", {}), e["inputs"][0]
    if "size" not in pre or len(first["shape"]) != 4:
        return
    nhwc = first.get("layout", "NCHW") == "NHWC"
    h, w = first["shape"][1:3] if nhwc else first["shape"][2:4]
    c = first["shape"][3] if nhwc else first["shape"][1]
    check(h < 1 or w < 1 or list(pre["size"]) == [h, w], f"{at}.preprocess.size", f"the input's height and width {[h, w]}",
          pre["size"])
    check(c < 1 or "channels" not in pre or pre["channels"] == c, f"{at}.preprocess.channels", f"the input's {c} channels",
          pre.get("channels"))


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
    _block(check, e.get("preprocess", {}), f"{at}.preprocess", PREPROCESS)
    _fits_input(check, e, at)
    _block(check, e.get("postprocess", {}), f"{at}.postprocess", POSTPROCESS)
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
