"""The manifest's typed blocks: how a model's first input is made (Preprocess, with a generator's Conditioning layout)
and how its outputs are read (Postprocess).

Each field's default and its rule live here and nowhere else: a manifest's missing keys take these defaults, the
contract checks values with these rules, the toolchain writes every field, and the web app reads the same defaults from
android_demo/web/lib/blocks.js, which `python -m animetool_runtime _blocks_js` writes from this module (a test keeps the
two in step).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Callable


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return (_int(v) or isinstance(v, float)) and math.isfinite(v)


def _nums(n: int | tuple[int, ...], ok: Callable[[Any], bool] = _num) -> Callable[[Any], bool]:
    counts = (n,) if isinstance(n, int) else n
    return lambda v: isinstance(v, (list, tuple)) and len(v) in counts and all(_num(x) and ok(x) for x in v)


def one_of(*values: str) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in values


def _names(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(isinstance(x, str) and x for x in v)


def _pairs(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 and all(_int(i) and i >= 0 for i in p)
                                                for p in v)


def _rule(default: Any, ok: Callable[[Any], bool], what: str) -> Any:
    """A field with its default, its test and what a value must be (shown when the test fails); None always passes
    for fields whose default is None (not given)."""
    return field(default=default, metadata={"ok": ok, "what": what})


class BlockError(ValueError):
    """A block value or key that breaks its rule: (where inside the block, what it must be, the value)."""

    def __init__(self, key: str, what: str, value: Any):
        super().__init__(key, what, value)
        self.key, self.what, self.value = key, what, value


@dataclass(frozen=True)
class Group:
    """One named run of channels of a generator's conditioning input."""

    name: str
    channels: int


def _groups(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(g, dict) and isinstance(g.get("name"), str) and _int(g.get("channels")) and g["channels"] >= 1 for g in v)


@dataclass(frozen=True)
class Conditioning:
    """The generator's input layout, described: named channel groups in order. `layout` is the version of what the maps
    mean (bumped when a painter changes, e.g. 4: eyes painted in the hair's colour); a runtime builds the groups it
    knows at the offsets this block gives, and refuses a layout version it does not paint."""

    layout: int = _rule(1, lambda v: _int(v) and v >= 1, "a positive integer (the layout's version)")
    groups: tuple[Group, ...] = _rule((), _groups, "a list of {name, channels} with positive channel counts")

    @property
    def channels(self) -> int:
        return sum(g.channels for g in self.groups)

    def span(self, name: str) -> tuple[int, int]:
        """(first, end) channel of a group."""
        start = 0
        for g in self.groups:
            if g.name == name:
                return start, start + g.channels
            start += g.channels
        raise KeyError(name)

    @classmethod
    def from_dict(cls, d: Any) -> "Conditioning":
        block = _build(cls, d, "conditioning")
        return replace(block, groups=tuple(Group(g["name"], g["channels"]) for g in block.groups))

    def to_dict(self) -> dict[str, Any]:
        return {"layout": self.layout, "groups": [asdict(g) for g in self.groups]}


@dataclass(frozen=True)
class Preprocess:
    """uint8 RGB frame (or, for a generator, a pose and an appearance) -> the model's first input."""

    kind: str = _rule("image", one_of("image", "conditioning", "tensor"), "image, conditioning or tensor")
    size: tuple[int, int] | None = _rule(None, _nums(2, lambda x: _int(x) and 1 <= x <= 8192), "[height, width], integers 1-8192")
    resize: str = _rule("stretch", one_of("letterbox", "stretch"), "letterbox or stretch")
    pad_value: float = _rule(0.0, _num, "a number")
    color: str = _rule("RGB", one_of("RGB"), "RGB")
    range: tuple[float, float] = _rule((0.0, 1.0), lambda v: _nums(2)(v) and v[0] < v[1], "[low, high] with low < high")
    mean: tuple[float, ...] = _rule((0.0, 0.0, 0.0), _nums((1, 3)), "one or three numbers")
    std: tuple[float, ...] = _rule((1.0, 1.0, 1.0), _nums((1, 3), lambda x: x != 0), "one or three non-zero numbers")
    channels: int | None = _rule(None, lambda v: _int(v) and v >= 1, "a positive integer")
    fill: float = _rule(0.8, lambda v: _num(v) and 0 < v <= 1, "a number in (0, 1] (the share of the canvas a pose fills)")
    conditioning: Conditioning | None = _rule(None, lambda v: isinstance(v, Conditioning), "a conditioning block")
    builder: str | None = _rule(None, lambda v: isinstance(v, str), "a function name")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocess":
        d = dict(d)
        if "layout" in d:  # before the conditioning block (same schema): the layout's version alone
            d.setdefault("conditioning", {"layout": d.pop("layout")})
        if isinstance(d.get("conditioning"), dict):
            d["conditioning"] = Conditioning.from_dict(d["conditioning"])
        return _build(cls, d)

    def to_dict(self) -> dict[str, Any]:
        out = _plain(self)
        out["conditioning"] = self.conditioning.to_dict() if self.conditioning else None
        return out


# Keys earlier versions wrote that nothing reads any more: a bundle that has them still loads (and loses them).
RETIRED = {"keypoint_threshold"}


@dataclass(frozen=True)
class Postprocess:
    """How the outputs are read: a pose decoder with its settings, or an image's value range and channel names."""

    decoder: str | None = _rule(None, lambda v: isinstance(v, str) and v != "", "a decoder name")
    stride: int | None = _rule(None, lambda v: _int(v) and 1 <= v <= 1024, "an integer 1-1024")
    center_threshold: float = _rule(0.3, lambda v: _num(v) and 0 <= v <= 1, "a number in [0, 1]")
    max_people: int = _rule(6, lambda v: _int(v) and 1 <= v <= 1000, "an integer 1-1000")
    keypoints: tuple[str, ...] = _rule((), _names, "a list of keypoint names")
    skeleton: tuple[tuple[int, int], ...] = _rule((), _pairs, "a list of [a, b] keypoint index pairs")
    range: tuple[float, float] = _rule((0.0, 1.0), lambda v: _nums(2)(v) and v[0] < v[1], "[low, high] with low < high")
    color: str = _rule("RGB", one_of("RGB"), "RGB")
    channels: tuple[str, ...] = _rule((), _names, "a list of channel names")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Postprocess":
        return _build(cls, {k: v for k, v in d.items() if k not in RETIRED})

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


def _build(cls, d: Any, at: str = ""):
    """cls from a dict: unknown keys and values that break a field's rule raise BlockError; tuples for lists."""
    if isinstance(d, cls):
        return d
    if not isinstance(d, dict):
        raise BlockError(at, "an object", d)
    known = {f.name: f for f in fields(cls)}
    for key, value in d.items():
        f = known.get(key)
        if f is None:
            raise BlockError(f"{at}.{key}" if at else key, f"a known key ({', '.join(known)})", key)
        if not (value is None and f.default is None) and not f.metadata["ok"](value):
            raise BlockError(f"{at}.{key}" if at else key, f.metadata["what"], value)
    return cls(**{k: _tuple(v) for k, v in d.items()})


def _tuple(v: Any) -> Any:
    return tuple(_tuple(x) for x in v) if isinstance(v, list) else v


def _plain(block) -> dict[str, Any]:
    """JSON-ready dict of every field (lists for tuples)."""
    def plain(v):
        return [plain(x) for x in v] if isinstance(v, (tuple, list)) else v
    return {f.name: plain(getattr(block, f.name)) for f in fields(block)}


def defaults() -> dict[str, Any]:
    """Every block's defaults, JSON-ready."""
    return {"preprocess": Preprocess().to_dict(), "postprocess": Postprocess().to_dict(),
            "conditioning": Conditioning().to_dict()}


def web_module() -> str:
    """android_demo/web/lib/blocks.js: the defaults for the web app, which fills a manifest entry's missing keys with
    them as Manifest.read does here."""
    lines = ",\n".join(f"  {k}: {json.dumps(v)}" for k, v in defaults().items())
    return ("// Written by `python -m animetool_runtime _blocks_js > android_demo/web/lib/blocks.js` from\n"
            "// runtime/animetool_runtime/blocks.py, where each default lives: edit it there, not here.\n"
            f"export const DEFAULTS = {{\n{lines}\n}};\n")
