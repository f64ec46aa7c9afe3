"""`animetool lint MODEL`: the layers and patterns known to break int8 or an export target, found before exporting.

The model is captured with torch.export (what litert-torch and the ONNX exporter trace too), then run on calibration
inputs while every tensor's range is recorded. Each rule is one decorated function over a graph node; it returns a
Finding that names the module path (or the source line of a functional call), the measured reason and the fix.
Adding a rule is one function.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from operator import attrgetter
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import fx

SEVERITIES = ("error", "warning", "info")  # error: export fails; warning: int8 loses accuracy; info: speed


@dataclass
class Finding:
    rule: str
    severity: str
    where: str  # module path, or file:line of a functional call
    op: str
    reason: str
    fix: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Stats:
    """A tensor's range over the calibration inputs: what an int8 observer sees (min/max) and what most values need."""

    lo: float
    hi: float
    p999: float  # 99.9th percentile of |x|

    @property
    def peak(self) -> float:
        return max(abs(self.lo), abs(self.hi))


Rule = Callable[[fx.Node, dict], Optional[Finding]]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn
    return register


def where(node: fx.Node) -> str:
    """The innermost module the op runs in, else the user's source line that called it."""
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    if path:
        return path
    trace = (node.meta.get("stack_trace") or "").strip().splitlines()
    lines = [t.strip() for t in trace if t.strip().startswith("File ")]
    if not lines:
        return "forward"
    file, _, line = lines[-1].replace("File ", "").split(", in ")[0].replace('"', "").partition(", line ")
    path = Path(file)
    return f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}:{line}"


def op_name(node: fx.Node) -> str:
    return str(getattr(node.target, "__name__", node.target)).split(".")[0]


def _stats(ctx: dict, node) -> Optional[Stats]:
    return ctx["stats"].get(node) if isinstance(node, fx.Node) else None


def _is_param(node, ctx: dict) -> bool:
    return isinstance(node, fx.Node) and node.name in ctx["params"]


def _fmt(s: Stats) -> str:
    return f"{s.lo:.3g}..{s.hi:.3g}"


NORMS = {"layer_norm", "group_norm", "instance_norm", "native_layer_norm", "native_group_norm", "rms_norm"}


@rule("norm-per-sample")
def norm_per_sample(node: fx.Node, ctx: dict) -> Optional[Finding]:
    if op_name(node) not in NORMS:
        return None
    return Finding("norm-per-sample", "warning", where(node), op_name(node),
                   "normalises by statistics of each input at run time: nothing folds into the previous conv, and its "
                   "mean/variance reductions run in int8 (InstanceNorm lost badly here)",
                   "BatchNorm (folds into the conv), or keep this layer in fp16/fp32")


ATTENTION = {"softmax", "_softmax", "log_softmax", "scaled_dot_product_attention"}


@rule("softmax-attention")
def softmax_attention(node: fx.Node, ctx: dict) -> Optional[Finding]:
    name = op_name(node)
    if name in ("matmul", "bmm") and all(isinstance(a, fx.Node) and not _is_param(a, ctx) for a in node.args[:2]):
        what = "multiplies two activations (attention scores): int8 needs both scales right at once"
    elif name in ATTENTION:
        what = "int8 softmax keeps the largest probabilities and flattens the small ones to zero"
    else:
        return None
    return Finding("softmax-attention", "warning", where(node), name, what,
                   "keep attention in fp16 (mixed precision), or int16 activations where the target has them")


SMOOTH = {"silu", "gelu", "hardswish", "mish", "elu", "selu", "softplus"}
SMOOTH_RANGE = 8.0  # beyond +-8 these curves are straight lines or zero: int8 levels go to the flat parts


@rule("smooth-activation-wide-range")
def smooth_wide(node: fx.Node, ctx: dict) -> Optional[Finding]:
    s = _stats(ctx, node.args[0] if node.args else None)
    if op_name(node) not in SMOOTH or s is None or s.peak <= SMOOTH_RANGE:
        return None
    levels = 255 * 2 / (s.hi - s.lo)
    return Finding("smooth-activation-wide-range", "warning", where(node), op_name(node),
                   f"its input spans {_fmt(s)}: one int8 scale leaves about {levels:.0f} levels for the curved part "
                   f"between -1 and 1", "ReLU/ReLU6 or BatchNorm before it, or keep it in fp16")


SATURATES = {"sigmoid": 8.0, "tanh": 4.0, "hardsigmoid": 3.0, "hardtanh": 1.0}


@rule("range-beyond-saturation")
def beyond_saturation(node: fx.Node, ctx: dict) -> Optional[Finding]:
    name = op_name(node)
    src = node.args[0] if node.args else None
    s = _stats(ctx, src)
    if s is None:
        return None
    if name in ("clamp", "clip", "hardtanh"):
        lo, hi = (node.args[1:3] + (None, None))[:2] if len(node.args) > 1 else (None, None)
        lo, hi = node.kwargs.get("min", lo), node.kwargs.get("max", hi)
        if name == "hardtanh":
            lo, hi = (node.args[1:3] if len(node.args) > 2 else (-1.0, 1.0))
        if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
            return None
        span = hi - lo
    elif name in SATURATES:
        span = 2 * SATURATES[name]
    else:
        return None
    if s.hi - s.lo <= 2 * span:
        return None
    useful = span / (s.hi - s.lo)
    return Finding("range-beyond-saturation", "warning", where(src), f"{op_name(src)} -> {name}",
                   f"{where(src)} outputs {_fmt(s)} but {name} only distinguishes a span of {span:g}: exporters "
                   f"calibrate the output before the {name}, so {100 * (1 - useful):.0f}% of its 256 int8 levels land "
                   "where the result no longer changes", f"bound {where(src)} in training (a clamp plus a range "
                   "penalty, as animetool's generator does), or keep it in fp16")


OUTLIER_RATIO = 20.0  # max |x| over its 99.9th percentile: a scale set by a few values


@rule("outliers")
def outliers(node: fx.Node, ctx: dict) -> Optional[Finding]:
    s = _stats(ctx, node)
    if s is None or op_name(node) not in ("conv2d", "linear", "add", "conv1d", "matmul", "addmm") or s.p999 <= 0:
        return None
    ratio = s.peak / s.p999
    if ratio < OUTLIER_RATIO:
        return None
    return Finding("outliers", "warning", where(node), op_name(node),
                   f"range {_fmt(s)} while 99.9% of values are within +-{s.p999:.3g}: the int8 scale, set by a few "
                   f"outliers, is {ratio:.0f}x coarser than the bulk needs",
                   "clamp or penalise the range in training, per-channel activations where the target has them, "
                   "or keep this layer in fp16")


CONCAT_RATIO = 8.0


@rule("concat-ranges")
def concat_ranges(node: fx.Node, ctx: dict) -> Optional[Finding]:
    if op_name(node) not in ("cat", "concat", "stack"):
        return None
    parts = [(a, _stats(ctx, a)) for a in node.args[0]]
    peaks = [(a, s.peak) for a, s in parts if s is not None and s.peak > 0]
    if len(peaks) < 2:
        return None
    big, small = max(peaks, key=lambda p: p[1]), min(peaks, key=lambda p: p[1])
    ratio = big[1] / small[1]
    if ratio < CONCAT_RATIO:
        return None
    return Finding("concat-ranges", "warning", where(node), op_name(node),
                   f"joins {where(small[0])} (+-{small[1]:.3g}) with {where(big[0])} (+-{big[1]:.3g}): one int8 scale "
                   f"for both leaves the smaller {np.log2(ratio):.1f} bits fewer",
                   "normalise the branches (BatchNorm) before joining, or add them instead of concatenating")


DECODE = {"topk", "sort", "argsort", "nonzero", "unique", "_unique2", "masked_select", "nms", "batched_nms", "where"}


@rule("decode-in-graph")
def decode_in_graph(node: fx.Node, ctx: dict) -> Optional[Finding]:
    name = op_name(node)
    if name not in DECODE or (name == "where" and len(node.args) != 1):
        return None
    return Finding("decode-in-graph", "warning", where(node), name,
                   "selects or sorts by value inside the network: data-dependent shapes or integer outputs that int8 "
                   "cannot represent and some targets lack",
                   "return the raw maps and decode in the runtime's postprocess (animetool_runtime.pose.decode does)")


@rule("conv-transpose-bias")
def conv_transpose_bias(node: fx.Node, ctx: dict) -> Optional[Finding]:
    if not op_name(node).startswith("conv_transpose") or len(node.args) < 3 or node.args[2] is None:
        return None
    return Finding("conv-transpose-bias", "warning", where(node), op_name(node),
                   "a transposed conv with a bias breaks one TFLite int8 quantizer, and its checkerboard output "
                   "widens ranges", "nearest (or bilinear) resize + conv")


@rule("channels-not-multiple-of-8")
def channels(node: fx.Node, ctx: dict) -> Optional[Finding]:
    if op_name(node) != "conv2d" or not _is_param(node.args[1], ctx):
        return None
    cout = ctx["params"][node.args[1].name].shape[0]
    if cout % 8 == 0 or cout <= 4:
        return None
    return Finding("channels-not-multiple-of-8", "info", where(node), "conv2d",
                   f"{cout} output channels: int8 kernels (XNNPACK, oneDNN, NNAPI) work in blocks of 8 and pad the rest",
                   f"{-(-cout // 8) * 8} channels cost the same")


class _Recorder(fx.Interpreter):
    """Runs the exported graph and keeps every floating tensor's range (a sample of |x| for the percentile)."""

    SAMPLE = 100_000

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.stats: dict[fx.Node, Stats] = {}

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if isinstance(out, torch.Tensor) and out.is_floating_point() and out.numel():
            flat = out.detach().flatten().float()
            step = max(1, flat.numel() // self.SAMPLE)
            p = _p999(flat[::step].abs())
            lo, hi = float(flat.min()), float(flat.max())
            old = self.stats.get(n)
            self.stats[n] = Stats(lo, hi, p) if old is None else Stats(min(old.lo, lo), max(old.hi, hi), max(old.p999, p))
        return out


def _p999(a: torch.Tensor) -> float:
    """torch.quantile(a, 0.999) (linear interpolation) from the top 0.1% of a 1-D tensor alone: the same value to
    float rounding, 50x faster than quantile's full sort, which took most of the lint's time."""
    n = a.numel()
    pos = 0.999 * (n - 1)
    k = n - int(pos)  # sorted positions int(pos) .. n - 1: the k largest
    top = torch.topk(a, k).values
    lo, hi = top[k - 1], top[k - 2] if k >= 2 else top[k - 1]
    return float(lo + (pos - int(pos)) * (hi - lo))


class LintError(ValueError):
    """The model cannot be captured at all; the message names it and the first line of the reason."""


def lint(module: torch.nn.Module, inputs: list[np.ndarray], name: str = "model") -> list[Finding]:
    """Every rule's findings for module, its ranges measured on inputs (each a batch-1 array of its input shape)."""
    example = torch.from_numpy(np.asarray(inputs[0], np.float32))
    try:
        ep = torch.export.export(module.eval(), (example,))
    except Exception as e:  # every capture fault means the same to the user: fix the model before exporting
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        return [Finding("not-exportable", "error", name, "torch.export", f"the graph cannot be captured: {first}",
                        "static shapes and no Python control flow that depends on tensor values")]
    gm = ep.module()
    params = _weights(gm)
    recorder = _Recorder(gm)
    with torch.no_grad():
        for x in inputs:
            recorder.run(torch.from_numpy(np.asarray(x, np.float32)))
    ctx = {"stats": recorder.stats, "params": params}
    found, seen = [], set()
    # the bodies of higher-order ops too (an autocast-disabled region: EfficientViT's linear attention runs in one)
    bodies = [m for m in gm.modules() if isinstance(m, fx.GraphModule) and m is not gm]
    for node in [n for g in [gm] + bodies for n in g.graph.nodes]:
        if node.op != "call_function":
            continue
        for check in RULES.values():
            f = check(node, ctx)
            if f is not None and (f.rule, f.where, f.op) not in seen:
                seen.add((f.rule, f.where, f.op))
                found.append(f)
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity))


FLOAT_RULES = ("range-beyond-saturation", "outliers")  # measured range faults a float layer removes


def float_layers(module: torch.nn.Module, findings: list[Finding]) -> tuple[str, ...]:
    """The modules int8 export keeps in float by default (--keep-float auto): those whose output range the lint
    measured to waste int8's levels. A few small layers in float cost little time and keep the model's accuracy."""
    names = dict(module.named_modules())
    return tuple(sorted({f.where for f in findings if f.rule in FLOAT_RULES and f.where and f.where in names}))


def _weights(gm: fx.GraphModule) -> dict[str, torch.Tensor]:
    """Graph nodes that are weights (get_attr in the unlifted module), by node name, with their tensors: a matmul
    with one is a linear layer, not attention."""
    got = {n.name: attrgetter(str(n.target))(gm) for n in gm.graph.nodes if n.op == "get_attr"}
    return {k: t for k, t in got.items() if isinstance(t, torch.Tensor)}
