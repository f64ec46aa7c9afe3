"""ONNX: torch.onnx (dynamo exporter); fp16 and int8 with onnxruntime's own tools."""
from __future__ import annotations

import ast
import tempfile
from pathlib import Path

import numpy as np

from animetool.export import Exported, ExportJob, float_conversion, register_target

OPSET = 18


class _CalibReader:
    """onnxruntime.quantization reads calibration batches through this iterator interface."""

    def __init__(self, name: str, arrays: list[np.ndarray]):
        self._it = iter([{name: a.astype(np.float32)} for a in arrays])

    def get_next(self):
        return next(self._it, None)


def module_path(node) -> str:
    """The PyTorch module path the dynamo exporter recorded for an ONNX node ("" at the top level): its name scopes
    are the qualified names of the modules it runs in, outermost first, then the op's own name."""
    scopes = next((p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), "")
    try:
        names = ast.literal_eval(scopes) if scopes else []
    except (ValueError, SyntaxError):
        return ""
    return names[-2] if len(names) >= 2 else ""


def _with_scopes(model, source):
    """onnxruntime's pre-processing drops every node's metadata, where the exporter recorded its module path: copied
    back by node name, else no node of a --keep-float layer is found and the int8 file quantizes it all the same."""
    props = {n.name: list(n.metadata_props) for n in source.graph.node if n.name}
    for n in model.graph.node:
        if n.name in props and not n.metadata_props:
            n.metadata_props.extend(props[n.name])
    return model


FUSED = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish"}  # quantized together with their producer


def _float_nodes(graph, job: ExportJob) -> list[str]:
    """The nodes of job.keep_float's modules, plus the nodes producing their inputs: onnxruntime quantizes a tensor
    at its producer, so a float layer would otherwise still read an 8-bit input (on the generator, the rounding of
    that input cost its output conv most of what keeping it in float gained)."""
    kept = [n for n in graph.node if job.kept(module_path(n))]
    producer = {o: n for n in graph.node for o in n.output}
    names = {n.name for n in kept}
    for n in kept:
        for t in n.input:
            p = producer.get(t)
            while p is not None and p.name not in names:
                names.add(p.name)
                p = producer.get(p.input[0]) if p.op_type in FUSED and p.input else None
    return sorted(names)


# Transformer blocks: int8 leaves these ops in float (onnxruntime's transformer recipe): softmax and layer norm, and the
# residual adds and scalings whose outlier channels one 8-bit scale cannot hold (ViT-Tiny: relative error 6.0e-2 with
# them quantized, 7.0e-3 without, zoo); MatMulConstBOnly keeps attention's activation x activation products float too.
TRANSFORMER_FLOAT = {"Softmax", "LayerNormalization", "Add", "Mul"}


def has_attention(graph) -> bool:
    """A softmax, or a MatMul of two activations (attention's scores and mixing, linear attention's k.v), by following
    which tensors are constants (initializers, Constant nodes, and what is computed from constants alone)."""
    const = {t.name for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" or (n.input and all(i in const for i in n.input if i)):
            const.update(n.output)
    return any(n.op_type == "Softmax" or (n.op_type == "MatMul" and not any(i in const for i in n.input))
               for n in graph.node)


@register_target("onnx", extra="onnx")
def export(job: ExportJob) -> Exported:
    import onnx
    import onnxruntime
    import torch

    out = job.out_dir / f"{job.stem}.onnx"
    details = {"tool": f"torch.onnx {torch.__version__} (dynamo), opset {OPSET}"}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"

        def convert() -> bytes:  # fp32 is this file; fp16 and int8 start from it
            prog = torch.onnx.export(job.module, (job.example,), dynamo=True, opset_version=OPSET,
                                     input_names=[job.input_name], output_names=job.output_names,
                                     external_data=False, verbose=False)
            prog.optimize()
            prog.save(str(fp32))
            return fp32.read_bytes()

        fp32.write_bytes(float_conversion(job, "onnx", convert))
        if job.precision == "fp32":
            out.write_bytes(fp32.read_bytes())
        elif job.precision == "fp16":
            from onnxruntime.transformers.float16 import convert_float_to_float16

            model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
            onnx.save(model, str(out))
            details["quantization"] = "fp16 weights and activations, float32 I/O (onnxruntime float16 converter)"
        else:
            from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
            from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
            from onnxruntime.quantization.shape_inference import quant_pre_process

            pre = Path(tmp) / "pre.onnx"
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
            model = _with_scopes(onnx.load(str(pre)), onnx.load(str(fp32)))
            onnx.save(model, str(pre))
            graph = model.graph
            attention = has_attention(graph)
            ops = (set(QLinearOpsRegistry) | set(QDQRegistry)) - (TRANSFORMER_FLOAT if attention else set())
            recipe = "; transformer recipe: softmax, layer norm, residual add/mul and attention's products in float" \
                if attention else ""
            quantize_static(str(pre), str(out), _CalibReader(job.input_name, job.calib),
                            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=sorted(ops),
                            nodes_to_exclude=_float_nodes(graph, job), extra_options={"MatMulConstBOnly": attention})
            details["quantization"] = (f"static int8 QDQ, per-channel 7-bit int8 weights (reduce_range), uint8 "
                                       f"activations, MinMax calibrated on {len(job.calib)} samples "
                                       f"(onnxruntime.quantization){recipe}{job.float_note()}")
    details["tool"] += f"; onnxruntime {onnxruntime.__version__}"
    from animetool_runtime.backends.onnxruntime import Backend

    sess = Backend(out)
    return Exported(file=out.name, inputs=sess.inputs, outputs=sess.outputs, details=details)
