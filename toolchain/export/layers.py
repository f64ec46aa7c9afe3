"""`animetool verify BUNDLE --layers`: every layer's output error, for each exported file, against PyTorch.

Each target's own runtime gives its intermediate tensors: ONNX Runtime (the layer's node made a graph output, after
its Quantize/Dequantize pair when int8 has one, so the rounding counts), OpenVINO (the layer's last op added as an
output), LiteRT (every tensor kept, on its reference kernels). The layers are the leaf modules, in the order they run,
that the file still names; a file's layer is found by the module path its exporter recorded (ONNX `name_scopes`
metadata, OpenVINO's `__module.<path>/` op names, litert-torch's "<class>_<attribute>" tensor-name segments, which skip
ModuleLists: a path they leave ambiguous is not reported).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from animetool_runtime.atomic import atomic_path
from animetool_runtime.bundle import dequantize, quantize
from animetool_runtime.manifest import ModelEntry, TensorSpec, to_layout
from animetool_runtime.parity import TOLERANCES, reference

from animetool.export.onnx import module_path


def torch_layers(module: torch.nn.Module, x: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Each leaf module's output (first tensor) for every input, in the order they run. Leaves, BatchNorm and ReLU
    included: exporters fold a conv into its BatchNorm and a ReLU into the int8 range, and name what is left after them."""
    names = dict(module.named_modules())
    outs: dict[str, list[np.ndarray]] = {}

    def keep(name: str):
        def hook(m, args, out):
            t = out[0] if isinstance(out, (tuple, list)) else out
            if isinstance(t, torch.Tensor):
                outs.setdefault(name, []).append(t.detach().numpy().copy())
        return hook

    handles = [m.register_forward_hook(keep(n)) for n, m in names.items() if n and not any(True for _ in m.children())]
    with torch.no_grad():
        for xi in x:
            module.eval()(torch.from_numpy(xi[None]))
    for h in handles:
        h.remove()
    return outs


def onnx_layers(path: Path, x: np.ndarray, layers: list[str]) -> dict[str, list[np.ndarray]]:
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    graph = model.graph
    consumers: dict[str, list] = {}
    for n in graph.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    tensor = {}
    for n in graph.node:  # the last node of each layer's module; its output after int8's Q -> DQ, if any
        p = module_path(n)
        if p in layers and n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            out = n.output[0]
            q = [c for c in consumers.get(out, []) if c.op_type == "QuantizeLinear"]
            dq = [c for c in consumers.get(q[0].output[0], []) if c.op_type == "DequantizeLinear"] if q else []
            tensor[p] = dq[0].output[0] if dq else out
    known = {o.name for o in graph.output}
    try:
        typed = onnx.shape_inference.infer_shapes(model).graph.value_info
    except Exception:  # noqa: BLE001 - the fp16 converter's own value_info already types its tensors
        typed = graph.value_info
    types = {v.name: v.type.tensor_type.elem_type for v in typed}
    for t in tensor.values():
        if t not in known:  # fp16 files compute in float16: the output keeps the tensor's own type
            graph.output.append(onnx.helper.make_tensor_value_info(t, types.get(t, onnx.TensorProto.FLOAT), None))
            known.add(t)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = list(tensor.values())
    got: dict[str, list[np.ndarray]] = {p: [] for p in tensor}
    for xi in x:
        outs = dict(zip(names, sess.run(names, {sess.get_inputs()[0].name: xi[None]})))
        for p, t in tensor.items():
            got[p].append(np.asarray(outs[t], np.float32))
    return got


def openvino_layers(path: Path, x: np.ndarray, layers: list[str]) -> dict[str, list[np.ndarray]]:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    last = {}
    for op in model.get_ordered_ops():
        head = op.get_friendly_name().split("/")[0]
        p = head[len("__module."):] if head.startswith("__module.") else ""
        if p in layers and op.get_output_size() and op.get_type_name() not in ("Constant", "Convert"):
            last[p] = op
    outputs = model.add_outputs([op.output(0) for op in last.values()])
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1})
    got: dict[str, list[np.ndarray]] = {p: [] for p in last}
    for xi in x:
        res = compiled(xi[None])
        for p, port in zip(last, outputs):
            got[p].append(np.asarray(res[compiled.outputs[[o.get_any_name() for o in compiled.outputs].index(port.get_any_name())]]))
    return got


def _signatures(module: torch.nn.Module) -> dict[tuple[str, ...], list[str]]:
    """Module path by the segments litert-torch names tensors with: "<class>_<attribute>" from the model down, where
    a ModuleList or ModuleDict leaves no segment (its children are called, not it). Ambiguous signatures keep all."""
    out: dict[tuple[str, ...], list[str]] = {}

    def walk(m: torch.nn.Module, path: str, sig: tuple[str, ...]) -> None:
        for attr, child in m.named_children():
            p = f"{path}.{attr}" if path else attr
            if isinstance(child, (torch.nn.ModuleList, torch.nn.ModuleDict)):
                walk(child, p, sig)
                continue
            cls = type(child)
            s = sig + (f"{cls.__module__}.{cls.__qualname__}_{attr}",)
            out.setdefault(s, []).append(p)
            walk(child, p, s)

    walk(module, "", ())
    return out


def _block(p: str) -> str:
    return p.rsplit(".", 1)[0] if "." in p else ""


def tflite_layers(path: Path, x: np.ndarray, want: dict[str, list[np.ndarray]], module: torch.nn.Module,
                  spec: TensorSpec) -> dict[str, list[np.ndarray]]:
    """Each op's output tensor mapped back to a module: its name (litert-torch's module segments) gives the block, and
    within the block the op whose PyTorch output it matches (a conv, its BatchNorm and ReLU fold into one op, named
    after any of them). The ops run on LiteRT's reference kernels here, without XNNPACK, so every tensor is kept."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(str(path), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    details = {t["index"]: t for t in it.get_tensor_details()}
    cls = type(module)
    root = f"{cls.__module__}.{cls.__qualname__}_wrapped"
    sigs = _signatures(module)

    def block_of(idx: int) -> str | None:
        """The one block a tensor's name points to (a tensor whose name lists several blocks is not reported)."""
        found = set()
        for alt in (a for a in details[idx]["name"].split(";") if "/" in a):
            segs = alt.split("/")
            paths = sigs.get(tuple(segs[segs.index(root) + 1:]), []) if root in segs else []
            found.update(_block(p) for p in paths if p in want)  # a ModuleList index matching two paths: ambiguous
        return found.pop() if len(found) == 1 else None

    ops = [op for op in it._get_ops_details() if op["op_name"] != "DELEGATE"]
    made = {int(i) for op in ops for i in op["outputs"]} | {int(t["index"]) for t in it.get_input_details()}
    blocks: dict[int, str] = {}
    for op in ops:
        for idx in op["outputs"]:  # a model output is named by the signature: its op's weights name the block
            b = block_of(idx)
            if b is None:
                weights = [i for i in op["inputs"] if i >= 0 and int(i) not in made]
                b = next((q for q in map(block_of, weights) if q is not None), None)
            if b is not None:
                blocks[idx] = b
    values: dict[int, list[np.ndarray]] = {i: [] for i in blocks}
    for xi in x:
        it.set_tensor(it.get_input_details()[0]["index"], quantize(to_layout(xi[None], "NCHW", "NHWC"), spec))
        it.invoke()
        for idx in blocks:
            t, (scale, zero) = it.get_tensor(idx), details[idx]["quantization"]
            t = dequantize(t, TensorSpec(details[idx]["name"], list(t.shape), t.dtype.name, scale=scale or None,
                                         zero_point=zero))
            values[idx].append(to_layout(t, "NHWC", "NCHW"))
    got: dict[str, list[np.ndarray]] = {}
    for idx, b in blocks.items():  # in op order: the producing op first, not a later requantized copy
        v = np.concatenate(values[idx])
        fits = [p for p in want if _block(p) == b and np.concatenate(want[p]).shape == v.shape]
        best = min(fits, key=lambda p: _error(v, np.concatenate(want[p])), default=None)
        if best is not None and best not in got:
            got[best] = values[idx]
    return got


def _error(a: np.ndarray, b: np.ndarray) -> float:
    """mean |a - b| over b's range; a ReLU the file folded into its int8 range is applied to b too."""
    if (b < 0).mean() > 0.05 and (a < 0).mean() < 1e-3:  # (onnxruntime drops a ReLU before a Quantize from 0)
        b = np.maximum(b, 0)
    return float(np.abs(a - b).mean()) / (float(b.max() - b.min()) or 1.0)


READERS = {"onnx": onnx_layers, "openvino": openvino_layers, "tflite": tflite_layers}


def layer_errors(root: Path, entries: list[ModelEntry], module: torch.nn.Module) -> dict:
    """{layers: [...], files: {key: {layer: rel mean error}}, first_over: {key: layer or None}} on the reference inputs
    of the entries (all of one model). rel: mean |file - torch| over the layer's range in PyTorch."""
    x, _ = reference(root / entries[0].reference)
    want = torch_layers(module, x)
    layers = list(want)
    result: dict = {"layers": layers, "files": {}, "first_over": {}, "skipped": {}}
    for e in entries:
        read = READERS.get(e.format)
        if read is None:
            result["skipped"][e.key] = f"{e.format}: no per-layer reader; measured at the output by verify"
            continue
        got = read(root / e.file, x, want, module, e.inputs[0]) if read is tflite_layers else read(root / e.file, x, layers)
        errs = {}
        for p in layers:
            if p not in got:
                continue
            a, b = np.concatenate(got[p]), np.concatenate(want[p])
            if a.shape == b.shape:
                errs[p] = _error(a, b)
        bound = TOLERANCES.get(e.precision, TOLERANCES["int8"])["mean"]
        result["files"][e.key] = errs
        result["first_over"][e.key] = next((p for p in layers if errs.get(p, 0.0) > bound), None)
    result["layers"] = [p for p in layers if any(p in errs for errs in result["files"].values())] or layers
    return result


def plot(result: dict, path: Path, width: int = 900, height: int = 420) -> None:
    """Error per layer (log scale), one line per file, as a PNG: where each target departs from PyTorch."""
    from PIL import Image, ImageDraw

    layers, files = result["layers"], result["files"]
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    left, top, right, bottom = 60, 20, width - 200, height - 40
    d.rectangle([left, top, right, bottom], outline="black")
    lo, hi = -6.0, 0.0  # log10 of the relative error
    for v in range(int(lo), int(hi) + 1):
        y = bottom - (v - lo) / (hi - lo) * (bottom - top)
        d.line([left, y, right, y], fill=(225, 225, 225))
        d.text((8, y - 6), f"1e{v}", fill="black")
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
    n = max(len(layers) - 1, 1)
    for k, (key, errs) in enumerate(files.items()):
        c = colours[k % len(colours)]
        pts = [(left + i / n * (right - left), bottom - (np.clip(np.log10(max(errs[p], 1e-12)), lo, hi) - lo) / (hi - lo)
                * (bottom - top)) for i, p in enumerate(layers) if p in errs]
        if len(pts) > 1:
            d.line(pts, fill=c, width=2)
        d.text((right + 10, top + 16 * k), key, fill=c)
    d.text((left, bottom + 8), f"layers in the order they run ({len(layers)}); y: mean |file - PyTorch| / range", fill="black")
    with atomic_path(path) as tmp:  # no half-written picture if interrupted
        img.save(tmp, format="PNG")
