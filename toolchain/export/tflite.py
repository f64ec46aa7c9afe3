"""TFLite target: litert-torch conversion with NHWC I/O (what Android code feeds), fp16 via ai-edge-quantizer, int8 via PT2E."""
from __future__ import annotations

import numpy as np
import torch

from animetool_runtime.manifest import TensorSpec

from animetool.export import ExportJob, Exported, float_conversion, register_target


class _Named(torch.nn.Module):
    """Takes the input as a keyword and returns a dict, so the file's signature uses our input/output names."""

    def __init__(self, inner: torch.nn.Module, input_name: str, output_names: list[str]):
        super().__init__()
        self.inner, self.input_name, self.output_names = inner, input_name, output_names

    def forward(self, **kwargs):
        out = self.inner(kwargs[self.input_name])
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        return dict(zip(self.output_names, out))


WRAPPED = "inner.wrapped."  # the module path of the user's model inside _Named(to_channel_last_io(...))


def _shares_with(node, nodes: set) -> bool:
    """Whether an annotated node's observers are shared with (SharedQuantizationSpec) an observer one of nodes held:
    a node's output, or an input edge (producer, user) annotated by its user."""
    from torchao.quantization.pt2e.quantizer import SharedQuantizationSpec

    ann = node.meta.get("quantization_annotation")
    if ann is None:
        return False
    specs = [*ann.input_qspec_map.values(), ann.output_qspec]
    for spec in specs:
        if isinstance(spec, SharedQuantizationSpec):
            ref = spec.edge_or_node
            if (ref[1] if isinstance(ref, tuple) else ref) in nodes:
                return True
    return False


def _quantizer(base: type, job: ExportJob):
    """litert-torch's PT2E quantizer, minus the annotations of the ops in job.keep_float's modules (its own
    set_module_name takes no 'None')."""

    class KeepFloat(base):
        def annotate(self, model):
            model = super().annotate(model)
            dropped = set()
            for n in model.graph.nodes:
                stack = n.meta.get("nn_module_stack")
                path = list(stack.values())[-1][0] if stack else ""
                if path.startswith(WRAPPED) and job.kept(path[len(WRAPPED):]):
                    dropped.add(n)
            gone = set()
            while dropped:  # ops that share an observer with a dropped one (permutes, reshapes) go float with it
                for n in dropped:
                    n.meta.pop("quantization_annotation", None)
                gone |= dropped
                dropped = {n for n in model.graph.nodes if _shares_with(n, gone)}
            _annotate_output_cats(model, gone)
            return model

    return KeepFloat()


PASS_THROUGH = {"view", "reshape", "permute", "transpose", "cat", "concat", "flatten", "squeeze", "unsqueeze", "clone",
                "contiguous", "getitem", "_to_copy"}  # ops between a model's last layer and its outputs: they move values


def _output_path(model: torch.fx.GraphModule) -> list:
    """The nodes between the model's outputs and the layers that make them: value-moving ops and their observers."""
    out = next(n for n in model.graph.nodes if n.op == "output")
    todo, path = list(out.all_input_nodes), []
    while todo:
        n = todo.pop()
        if n in path:
            continue
        if n.op == "call_module" and "activation_post_process" in str(n.target):
            path.append(n)
            todo.extend(n.all_input_nodes)
        elif n.op == "call_function" and getattr(n.target, "__name__", "").split(".")[0] in PASS_THROUGH:
            path.append(n)
            todo.extend(n.all_input_nodes)
    return path


def _annotate_output_cats(model: torch.fx.GraphModule, floating: set) -> None:
    """A concatenation that makes an output (a detector's per-level boxes and logits) gets one int8 range over all its
    inputs, observed on min/max. Left unannotated, litert's converter gave the int8 output a scale that fits one of
    its inputs and clipped the other levels into it (SSDlite's heads: output range +-0.033 for values up to +-0.3)."""
    from torchao.quantization.pt2e.observer import MinMaxObserver
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, QuantizationSpec, SharedQuantizationSpec

    spec = QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine,
                            is_dynamic=False, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2 ** -12))
    for n in _output_path(model):
        if (n.op != "call_function" or n.target.__name__.split(".")[0] not in ("cat", "concat") or n in floating
                or "quantization_annotation" in n.meta or any(a in floating for a in n.all_input_nodes)):
            continue
        first, *rest = n.all_input_nodes
        shared = SharedQuantizationSpec((first, n))
        n.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map={first: spec, **{a: shared for a in rest}}, output_qspec=shared, _annotated=True)


def _nhwc(a):
    """NCHW -> NHWC, for the example and the calibration data fed to the channel-last wrapper (a tensor that is not
    4-D, e.g. a sequence or a feature vector, stays as it is)."""
    a = a if torch.is_tensor(a) else torch.from_numpy(np.ascontiguousarray(a))
    return a.permute(0, 2, 3, 1).contiguous() if a.ndim == 4 else a


def _read_specs(path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Read I/O back from the written file through the runtime backend, so manifest and runtime agree."""
    from animetool_runtime.backends.litert import Backend

    b = Backend(path, threads=1)
    return b.inputs, b.outputs


def _fp16_weights(model_bytes: bytes) -> bytes:
    """LiteRT fp16: conv/FC weights cast to fp16 (dequantized in-graph), activations and I/O stay float32."""
    from ai_edge_quantizer import qtyping, quantizer

    qt = quantizer.Quantizer(bytearray(model_bytes))
    qt.add_weight_only_config(
        regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
        granularity=qtyping.QuantGranularity.TENSORWISE, algorithm_key=quantizer.AlgorithmName.FLOAT_CASTING)
    return bytes(qt.quantize(enable_progress_report=False).quantized_model)


@register_target("tflite", extra="tflite")
def export(job: ExportJob) -> Exported:
    """Convert job.module to job.out_dir/<stem>.tflite with NHWC 4-D inputs and outputs (other ranks as they are)."""
    import litert_torch

    module = job.module.eval()
    with torch.no_grad():
        out = module(job.example)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    names = list(job.output_names) + [f"output_{i}" for i in range(len(job.output_names), len(outs))]
    wrapped = litert_torch.to_channel_last_io(module, args=[0] if job.example.ndim == 4 else [],
                                              outputs=[i for i, o in enumerate(outs) if o.ndim == 4])
    model = _Named(wrapped, job.input_name, names[: len(outs)]).eval()
    kwargs = {job.input_name: _nhwc(job.example)}

    quant_config, how = None, "none (float32)"
    if job.precision == "int8":
        if not job.calib:
            raise ValueError("int8 export needs calibration inputs (job.calib is empty)")
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = _quantizer(PT2EQuantizer, job).set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
        model = prepare_pt2e(torch.export.export(model, (), kwargs).module(), quantizer)
        with torch.no_grad():
            for x in job.calib:
                model(**{job.input_name: _nhwc(np.asarray(x, dtype=np.float32))})
        model = convert_pt2e(model, fold_quantize=False)
        model.training = False  # captured in eval mode already; only silences litert's training-mode warning
        quant_config = QuantConfig(pt2e_quantizer=quantizer)
        how = f"PT2E static int8, per-channel symmetric weights, calibrated on {len(job.calib)} samples{job.float_note()}"
    elif job.precision != "fp32" and job.precision != "fp16":
        raise ValueError(f"tflite: unsupported precision {job.precision!r}")

    if quant_config is None:  # fp32 and fp16 (its weights cast after) start from the same conversion
        data = float_conversion(job, "tflite", lambda: litert_torch.convert(model, sample_kwargs=kwargs).model_content())
    else:
        data = litert_torch.convert(model, sample_kwargs=kwargs, quant_config=quant_config).model_content()
    if job.precision == "fp16":
        data = _fp16_weights(data)
        how = "fp16 weights (ai-edge-quantizer float casting), float32 activations and I/O"

    job.out_dir.mkdir(parents=True, exist_ok=True)
    path = job.out_dir / f"{job.stem}.tflite"
    path.write_bytes(data)
    inputs, outputs = _read_specs(path)
    return Exported(file=path.name, inputs=inputs, outputs=outputs,
                    details={"tool": f"litert-torch {litert_torch.__version__}", "quantization": how})
