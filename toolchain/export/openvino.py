"""OpenVINO IR target (.xml + .bin): fp32, fp16 (OpenVINO's FP16 weight compression) and int8 (NNCF static PTQ)."""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

from animetool_runtime.manifest import TensorSpec

from animetool.export import ExportJob, Exported, register_target


def _short(version: str) -> str:
    """'2026.4.1-22982-e213a14-releases/2026/4' -> '2026.4.1': the build suffix is noise in a manifest."""
    return version.split("-")[0]


def _specs(ports) -> list[TensorSpec]:
    """Tensor specs as the saved IR declares them (static NCHW float32 I/O, never quantized at the boundary)."""
    return [
        TensorSpec(
            name=p.get_any_name(),
            shape=[int(d) for d in p.get_shape()],
            dtype=p.get_element_type().to_dtype().name,
        )
        for p in ports
    ]


def _module_path(op) -> str:
    """The PyTorch module path OpenVINO's PyTorch frontend put in an op's name ("__module.out/aten::...")."""
    head = op.get_friendly_name().split("/")[0]
    return head[len("__module."):] if head.startswith("__module.") else ""


def _kept_ops(model, job: ExportJob) -> list[str]:
    """Friendly names of the ops of job.keep_float's modules, by the module path the frontend put in their names; a
    conv folded with its BatchNorm is named after neither (e.g. "Multiply_11540"), but the op it feeds carries the
    BatchNorm's path, which job.kept maps to the conv's."""
    if not job.keep_float:
        return []
    names = []
    for op in model.get_ops():
        path = _module_path(op)
        if not path and op.get_type_name() in ("Convolution", "GroupConvolution", "MatMul"):
            path = next((p for t in op.output(0).get_target_inputs() for p in [_module_path(t.get_node())] if p), "")
        if job.kept(path):
            names.append(op.get_friendly_name())
    return names


ATTENTION = {"Softmax", "ScaledDotProductAttention"}  # F.scaled_dot_product_attention arrives as one op


def has_attention(model) -> bool:
    """A softmax, or a MatMul of two activations (attention's scores and mixing, linear attention's k.v): what
    NNCF's transformer mode is for. Constants are followed through what is computed from them alone (weight converts)."""
    const: set[str] = set()
    for op in model.get_ordered_ops():
        ins = [i.get_source_output().get_node().get_friendly_name() for i in op.inputs()]
        if op.get_type_name() == "Constant" or (ins and all(n in const for n in ins)):
            const.add(op.get_friendly_name())
        elif op.get_type_name() in ATTENTION or (op.get_type_name() == "MatMul" and not any(n in const for n in ins)):
            return True
    return False


def _quantize(model, calib, job: ExportJob, attention: bool):
    """Static INT8 PTQ with NNCF (symmetric, CNN defaults); NNCF's rich progress bars go to a swallowed stdout."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return nncf.quantize(
                model,
                nncf.Dataset(calib),
                preset=nncf.QuantizationPreset.MIXED,  # activations asymmetric: hardswish's -0.375 floor costs no bit
                target_device=nncf.TargetDevice.ANY,
                subset_size=len(calib),
                # global min/max of activations as the ONNX and TFLite exports calibrate (NNCF's default averages
                # each sample's min/max, which clips: MobileNet v3's int8 error 0.044 -> 0.022 of its range, zoo);
                # overflow fix: 7-bit weights, exact on CPUs without VNNI (portable int8)
                advanced_parameters=AdvancedQuantizationParameters(
                    overflow_fix=OverflowFix.ENABLE, activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX),
                ignored_scope=nncf.IgnoredScope(names=_kept_ops(model, job), validate=False),
                # attention keeps softmax and its products where NNCF's transformer scheme puts them (ViT-Tiny:
                # relative error 4.9e-2 under the CNN scheme, 6.9e-3 under this one, zoo)
                model_type=nncf.ModelType.TRANSFORMER if attention else None,
            )
    finally:
        logger.setLevel(level)


@register_target("openvino", extra="openvino")
def export(job: ExportJob) -> Exported:
    """Trace the module with OpenVINO's PyTorch frontend at the example's static shape, optionally quantize, save IR."""
    import openvino as ov

    ex = job.example
    model = ov.convert_model(job.module, example_input=ex, input=[(list(ex.shape), ov.Type.f32)])
    if len(model.inputs) != 1 or len(model.outputs) != len(job.output_names):
        raise ValueError(
            f"openvino: model has {len(model.inputs)} inputs / {len(model.outputs)} outputs, "
            f"expected 1 / {len(job.output_names)} ({', '.join(job.output_names)})"
        )
    # Stable names for the runtime; an image's layout goes into the IR's rt_info so OpenVINO tools know it is NCHW.
    model.inputs[0].get_tensor().set_names({job.input_name})
    if len(ex.shape) == 4:
        model.inputs[0].get_node().set_layout(ov.Layout("NCHW"))
    for port, name in zip(model.outputs, job.output_names):
        port.get_tensor().set_names({name})

    tool = f"openvino {_short(ov.__version__)}"
    if job.precision == "int8":
        import nncf

        if not job.calib:
            raise ValueError("openvino int8 needs calibration inputs (job.calib is empty)")
        attention = has_attention(model)
        model = _quantize(model, job.calib, job, attention)
        tool += f"; nncf {_short(nncf.__version__)}"
        quant = (f"NNCF static PTQ{' (transformer model type)' if attention else ''}, int8 symmetric "
                 f"weights (7-bit range, overflow fix), asymmetric activations (min/max), {len(job.calib)} calibration "
                 f"inputs{job.float_note()}")
    elif job.precision == "fp16":
        quant = "fp16 weights (OpenVINO compress_to_fp16), fp32 I/O and compute precision left to the device"
    elif job.precision == "fp32":
        quant = "none"
    else:
        raise ValueError(f"openvino: unknown precision {job.precision!r}")

    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    xml, bin_ = f"{job.stem}.xml", f"{job.stem}.bin"
    ov.save_model(model, out_dir / xml, compress_to_fp16=job.precision == "fp16")

    saved = ov.Core().read_model(out_dir / xml)
    return Exported(
        file=xml,
        inputs=_specs(saved.inputs),
        outputs=_specs(saved.outputs),
        details={"tool": tool, "quantization": quant, "files": [xml, bin_]},
    )
