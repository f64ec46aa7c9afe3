"""Which layers int8 files keep in float (`export --keep-float`). auto: the layers the lint measures wasting int8's
range; then, accuracy-controlled, an int8 file that still misses its parity bar is exported again with the fewest,
most sensitive layers also left in float, until it passes (or SEARCH runs out).

Sensitivity is measured once per model in PyTorch, target-free: each layer's output alone is rounded to 8 bits (one
per-tensor scale over its calibration range, as every target's static int8 does) and the model's output error is
measured; the layers that cost most come first. The export + parity of each try are the target's own.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from animetool_runtime.parity import headline

from animetool.export.lint import float_layers, lint
from animetool.export.sources import Source, SourceError

LINT_COUNT = 8  # calibration inputs the lint measures ranges on for --keep-float auto
SEARCH = (1, 2, 4, 8)  # extra float layers tried in turn, most sensitive first
SAMPLES = 8


def _tensors(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    return [t for o in (out if isinstance(out, (list, tuple)) else []) for t in _tensors(o)]


def _fake_quant(t: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    lo, hi = min(lo, 0.0), max(hi, 0.0)  # zero stays exact, as in every int8 scheme
    scale = (hi - lo) / 255 or 1.0
    return torch.round((t.clamp(lo, hi) - lo) / scale) * scale + lo


def candidates(module: nn.Module) -> list[str]:
    """Layers with weights of their own (convs, linears, attention, per-sample norms); BatchNorm folds into its conv."""
    return [n for n, m in module.named_modules() if n and not isinstance(m, nn.modules.batchnorm._BatchNorm)
            and any(True for _ in m.parameters(recurse=False))]


def _observe(module: nn.Module, layers: list[str], xs: list[torch.Tensor]) -> tuple[dict[str, tuple[float, float]], list]:
    """Each layer's output range (its first floating tensor) over xs, and the model's outputs for each x."""
    names = dict(module.named_modules())
    ranges: dict[str, tuple[float, float]] = {}

    def observe(name: str):
        def hook(m, args, out):
            ts = _tensors(out)
            if ts and ts[0].is_floating_point():
                lo, hi = ranges.get(name, (float("inf"), float("-inf")))
                ranges[name] = (min(lo, float(ts[0].min())), max(hi, float(ts[0].max())))
        return hook

    handles = [names[n].register_forward_hook(observe(n)) for n in layers]
    try:
        with torch.no_grad():
            outs = [_tensors(module(x)) for x in xs]
    finally:
        for h in handles:
            h.remove()
    return ranges, outs


def _as_tensors(inputs: list[np.ndarray]) -> list[torch.Tensor]:
    return [torch.from_numpy(np.asarray(x, np.float32)) for x in inputs]


def attention_blocks(module: nn.Module, inputs: list[np.ndarray]) -> list[str]:
    """The modules the lint finds attention in (a softmax, or a product of two activations), in model order: their
    int8 error lies in ops without weights of their own, which the per-layer scan below cannot rank (EfficientViT's
    linear attention: int8 relative error 7.8e-2 with its 8 most sensitive convs in float, 2.0e-2 with its four
    attention blocks, zoo)."""
    names = dict(module.named_modules())
    found = [f.where for f in lint(module, inputs[:LINT_COUNT]) if f.rule == "softmax-attention" and f.where in names]
    return list(dict.fromkeys(found))


def ranked_layers(module: nn.Module, inputs: list[np.ndarray]) -> list[str]:
    """What the accuracy search leaves in float, in order: attention blocks, then the other layers by sensitivity."""
    blocks = attention_blocks(module, inputs)
    inside = lambda n: any(n == b or n.startswith(b + ".") for b in blocks)  # noqa: E731
    return blocks + [n for n in sensitivity(module, inputs) if not inside(n)]


def sensitivity(module: nn.Module, inputs: list[np.ndarray]) -> list[str]:
    """Candidate layers, most int8-sensitive first (the output error when only that layer's output is 8-bit)."""
    module = module.eval()
    xs = _as_tensors(inputs[:SAMPLES])
    names = dict(module.named_modules())
    ranges, refs = _observe(module, candidates(module), xs)
    scores = {}
    with torch.no_grad():
        for n, (lo, hi) in ranges.items():

            def quantize(m, args, out, lo=lo, hi=hi):
                if isinstance(out, torch.Tensor):
                    return _fake_quant(out, lo, hi)
                if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor):
                    return (_fake_quant(out[0], lo, hi), *out[1:])
                return out

            h = names[n].register_forward_hook(quantize)
            err = 0.0
            for x, ref in zip(xs, refs):
                for a, b in zip(_tensors(module(x)), ref):
                    err += float((a - b).abs().mean()) / (float(b.max() - b.min()) or 1.0)
            h.remove()
            scores[n] = err
    return sorted((n for n in scores if scores[n] > 0), key=lambda n: -scores[n])


MIN_CALIB = 16  # fewer calibration inputs than this: int8 ranges come from too few activations
OUTSIDE = 0.001  # share of held-out activations outside a layer's calibration range above which it is named


def calibration_check(module: nn.Module, calib_inputs: list[np.ndarray], held_out: list[np.ndarray]) -> dict:
    """Whether the calibration set is big enough and covers inputs it did not contain: every candidate layer's output
    range over the calibration inputs, then the share of the held-out inputs' values that fall outside it (those an
    int8 file clips). Returns {samples, held_out, worst_layer, outside, warning (None when fine)}."""
    module = module.eval()
    names = dict(module.named_modules())
    ranges, _ = _observe(module, candidates(module), _as_tensors(calib_inputs))
    outside: dict[str, list[int]] = {}

    def count(name: str):
        def fn(m, args, out):
            ts = _tensors(out)
            if ts and ts[0].is_floating_point():
                lo, hi = ranges[name]
                counts = outside.setdefault(name, [0, 0])
                counts[0] += int(((ts[0] < lo) | (ts[0] > hi)).sum())
                counts[1] += ts[0].numel()
        return fn

    handles = [names[n].register_forward_hook(count(n)) for n in ranges]
    try:
        with torch.no_grad():
            for x in _as_tensors(held_out):
                module(x)
    finally:
        for h in handles:
            h.remove()
    shares = {n: c[0] / c[1] for n, c in outside.items() if c[1]}
    worst = max(shares, key=shares.get) if shares else None
    share = shares.get(worst, 0.0) if worst else 0.0
    warning = None
    if len(calib_inputs) < MIN_CALIB:
        warning = (f"only {len(calib_inputs)} calibration inputs (at least {MIN_CALIB}, ideally 32+ covering what the "
                   "model will see): int8 ranges from few inputs clip the rest")
    elif share > OUTSIDE:
        warning = (f"the calibration inputs do not cover the held-out ones: {100 * share:.1f}% of {worst}'s values on "
                   f"inputs not in the calibration set fall outside its calibrated range and are clipped; calibrate "
                   "on more varied inputs, like those the model will see")
    return {"samples": len(calib_inputs), "held_out": len(held_out), "worst_layer": worst,
            "outside": round(share, 5), "warning": warning}


def search(export: Callable[[tuple[str, ...]], object], parity: Callable[[object], dict], base: tuple[str, ...],
           ranked: Callable[[], list[str]]) -> tuple[object, list[dict]]:
    """Export with base float layers; while parity fails, again with 1, 2, 4, 8 more of ranked(). Returns the last
    export and every try (its float layers, status and worst figures), for the manifest."""
    kept, tries = base, []
    steps = iter(SEARCH)
    order: list[str] | None = None
    while True:
        result = export(kept)
        res = parity(result)
        tries.append({"kept_float": list(kept), "status": res["status"], **headline(res)})
        if res["status"] != "parity-failed":  # ok, or not measurable on this machine (Core ML off macOS)
            return result, tries
        if order is None:
            order = [n for n in ranked() if n not in base]
        more = next(steps, None)
        if more is None or base + tuple(order[:more]) == kept:
            return result, tries
        kept = base + tuple(order[:more])


def keep_float_for(src: Source, spec: str, calib_inputs: list[np.ndarray]) -> tuple[str, ...]:
    """The module paths src's int8 files keep in float: "auto" asks the lint (layers whose measured range wastes
    int8's levels), "none" quantizes everything, else a comma list of the model's own module paths."""
    if spec == "none":
        return ()
    if spec == "auto":
        return float_layers(src.module, lint(src.module, calib_inputs[:LINT_COUNT], src.name))
    names = dict(src.module.named_modules())
    paths = tuple(p.strip() for p in spec.split(",") if p.strip())
    for p in paths:
        if p not in names or not p:
            near = [n for n in names if n and (p in n or n in p)][:5]
            raise SourceError(f"{src.name}: --keep-float {p!r} is not a module of the model"
                              + (f" (did you mean {', '.join(near)}?)" if near else " (see `animetool lint` for module paths)"))
    return paths
