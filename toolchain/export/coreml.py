"""Core ML target: an ML Program (.mlpackage) from torch.jit.trace + coremltools.convert, compressed in coremltools."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import torch

from animetool_runtime.backends.coreml import main_ops, tensor_specs

from animetool.export import ExportJob, Exported, register_target

_CALIB_STEPS = 1 << 30  # milestone that is never reached: observers stay on, fake-quant stays off


DROPOUT = ("StochasticDepth", "DropPath", "DropBlock2d")  # torchvision's and timm's, beside torch's own dropouts


def _without_dropout(module: torch.nn.Module) -> torch.nn.Module:
    """Dropout and stochastic depth replaced by identities (what they are in eval mode): LinearQuantizer traces the
    model in training mode, where they would become random ops (bernoulli_) that Core ML cannot convert."""
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.modules.dropout._DropoutNd) or type(child).__name__ in DROPOUT:
            setattr(module, name, torch.nn.Identity())
        else:
            _without_dropout(child)
    return module


def _w8a8(job: ExportJob) -> torch.nn.Module:
    """Static W8A8 on the torch side, because Core ML's own activation calibration must run the model (macOS only).

    coremltools' LinearQuantizer (torch FX) folds BN, min/max-observes job.calib, and finalize() writes
    quantize/dequantize pairs that convert to MIL quantize/dequantize ops (iOS17+) with int8 weights."""
    from coremltools.optimize.torch.quantization import (
        LinearQuantizer, LinearQuantizerConfig, ModuleLinearQuantizerConfig)

    if not job.calib:
        raise ValueError("coreml int8 (W8A8) needs calibration inputs, and job.calib is empty")
    cfg = ModuleLinearQuantizerConfig(quantization_scheme="symmetric", weight_observer="min_max",
                                      activation_observer="min_max", milestones=[0, _CALIB_STEPS, _CALIB_STEPS, 0])
    config = LinearQuantizerConfig(global_config=cfg, module_name_configs={name: None for name in job.keep_float})
    quantizer = LinearQuantizer(_without_dropout(copy.deepcopy(job.module).eval()), config)
    prepared = quantizer.prepare(example_inputs=(job.example,), inplace=True)
    quantizer.step()  # step 0: observers on, BN statistics frozen, fake-quant off (plain PTQ calibration)
    prepared.eval()
    with torch.no_grad():
        for x in job.calib:
            prepared(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    return quantizer.finalize(inplace=True)


def _patch_scalar_casts() -> None:
    """coremltools 9.0 folds aten::Int/Bool/Float of a constant with int(x.val); NumPy 2.4 refuses that for a 1-element
    array (apple/coremltools#2633: "only 0-dimensional arrays can be converted to Python scalars", e.g. every
    `b, c, h, w = x.size()` then view). The same cast, taking the one element first; idempotent."""
    from coremltools.converters.mil.frontend.torch import ops

    if getattr(ops._cast, "_animetool", False):
        return
    original = ops._cast

    def _cast(context, node, dtype, dtype_name):
        x = ops._get_inputs(context, node, expected=1)[0]
        if x.can_be_folded_to_const() and isinstance(x.val, np.ndarray) and x.val.size == 1:
            context.add(ops.mb.const(val=dtype(x.val.reshape(-1)[0].item()), name=node.name), node.name)
            return
        original(context, node, dtype, dtype_name)

    _cast._animetool = True
    ops._cast = _cast


def _convert(module: torch.nn.Module, job: ExportJob, precision, target):
    """Trace (torch.export also converts, but gives no control over output names) and convert with float32 I/O."""
    import coremltools as ct

    _patch_scalar_casts()

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings and torch's deprecation notice for quantize_per_tensor
        traced = torch.jit.trace(module, job.example)
        return ct.convert(
            traced,
            inputs=[ct.TensorType(name=job.input_name, shape=tuple(job.example.shape), dtype=np.float32)],
            outputs=[ct.TensorType(name=n, dtype=np.float32) for n in job.output_names],
            convert_to="mlprogram", minimum_deployment_target=target, compute_precision=precision)


def _w8(job: ExportJob, precision, target):
    """Weight-only int8 (linear symmetric per output channel) on the converted ML Program: `w8`, and int8's fallback."""
    import coremltools.optimize.coreml as cto

    cfg = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel")
    return cto.linear_quantize_weights(_convert(job.module, job, precision, target), cto.OptimizationConfig(cfg))


@register_target("coreml", extra="coreml", precisions=("fp32", "fp16", "int8", "w8", "palette4"))
def export(job: ExportJob) -> Exported:
    """fp32/fp16 set compute precision; w8 and palette4 compress weights after conversion; int8 is W8A8 (see _w8a8)."""
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    fp16, target = ct.precision.FLOAT16, ct.target.iOS16
    thr = cto.OpLinearQuantizerConfig().weight_threshold
    if job.precision == "fp32":
        model, quant = _convert(job.module, job, ct.precision.FLOAT32, target), "none (fp32 weights and compute)"
    elif job.precision == "fp16":
        model, quant = _convert(job.module, job, fp16, target), "none (fp16 weights and compute)"
    elif job.precision == "w8":
        model, quant = _w8(job, fp16, target), f"weight-only int8, linear symmetric per output channel (weights > {thr} elements); fp16 compute"
    elif job.precision == "palette4":
        cfg = cto.OpPalettizerConfig(mode="kmeans", nbits=4, granularity="per_tensor")
        model = cto.palettize_weights(_convert(job.module, job, fp16, target), cto.OptimizationConfig(cfg))
        quant = f"4-bit k-means palettization, one LUT per tensor (weights > {thr} elements); fp16 compute"
    elif job.precision == "int8":
        try:
            model = _convert(_w8a8(job), job, fp16, ct.target.iOS17)
            quant = (f"W8A8 static PTQ (coremltools.optimize.torch LinearQuantizer, min/max over {len(job.calib)} "
                     "calibration inputs): int8 per-channel symmetric weights, 8-bit per-tensor activations; fp16 "
                     f"compute{job.float_note()}")
        except Exception as e:  # noqa: BLE001  torch FX cannot trace it, or coremltools' quantizer refuses a layer
            # Core ML calibrates activations only by running the model (macOS), so what the torch side cannot quantize
            # gets int8 weights alone, as Ultralytics' Core ML int8 always does; the manifest says which and why
            why = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            model = _w8(job, fp16, target)
            quant = (f"weight-only int8 (W8A16), linear symmetric per output channel (weights > {thr} elements); fp16 "
                     f"compute. W8A8 was not possible: {why}")
    else:
        raise ValueError(f"coreml: unsupported precision {job.precision!r}")

    job.out_dir.mkdir(parents=True, exist_ok=True)
    path = job.out_dir / f"{job.stem}.mlpackage"
    model.save(str(path))  # replaces an existing package

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()  # read back what the file declares
    return Exported(
        file=path.name, inputs=tensor_specs(spec.description.input), outputs=tensor_specs(spec.description.output),
        details={"tool": f"coremltools {ct.__version__}", "quantization": quant,
                 "spec_version": int(spec.specificationVersion), "ops": sorted({op.type for op in main_ops(spec)})})
