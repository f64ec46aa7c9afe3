"""Core ML backend: runs .mlpackage files on macOS only; structural_check() inspects them anywhere."""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from ..manifest import BundleError, TensorSpec

_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "DOUBLE": "float64", "INT32": "int32", "INT8": "int8"}
MIN_SPEC_VERSION = 7  # ML Program on iOS16 / macOS13


def check_available() -> None:
    import coremltools  # noqa: F401


def tensor_specs(features) -> list[TensorSpec]:
    """Inputs or outputs as the model description declares them (fixed shapes; -1 where a dimension is flexible)."""
    from coremltools.proto import FeatureTypes_pb2

    out = []
    for f in features:
        arr = f.type.multiArrayType
        dtype = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(arr.dataType)
        shape = [int(d) for d in arr.shape] if not arr.HasField("shapeRange") else [-1] * len(arr.shape)
        out.append(TensorSpec(f.name, shape, _DTYPES.get(dtype, dtype.lower())))
    return out


def main_ops(spec) -> list:
    """Operations of the main function, nested blocks included."""
    main = spec.mlProgram.functions["main"]
    todo, ops = [main.block_specializations[main.opset]], []
    while todo:
        for op in todo.pop().operations:
            ops.append(op)
            todo.extend(op.blocks)
    return ops


class Backend:
    def __init__(self, path: Path, threads: int | None = None):
        if platform.system() != "Darwin":
            raise BundleError(f"{path}: Core ML models run only on macOS (this is {platform.system()}); "
                              "use verify's structural checks on Linux")
        import coremltools as ct

        # threads: Core ML schedules its own compute units, so the setting has nothing to apply to
        self._model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.ALL)
        spec = self._model.get_spec()
        self.inputs = tensor_specs(spec.description.input)
        self.outputs = tensor_specs(spec.description.output)
        self.version = f"coremltools {ct.__version__}"

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        result = self._model.predict({s.name: f for s, f in zip(self.inputs, feeds)})
        return [np.asarray(result[s.name]) for s in self.outputs]


def structural_check(path: Path, entry_inputs: list[TensorSpec], entry_outputs: list[TensorSpec]) -> dict:
    """What can be checked without running the model (Linux included): format, I/O against the manifest, weight blobs."""
    import coremltools as ct

    report = {"ok": False, "spec_version": 0, "ops": [], "problems": [], "numeric": "needs macOS"}
    problems = report["problems"]
    try:
        model = ct.models.MLModel(str(path), skip_model_load=True)
        spec = model.get_spec()
    except Exception as e:  # a missing or corrupt package raises many types; report it in one line
        problems.append(f"cannot read the package ({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})")
        return report
    report["spec_version"] = int(spec.specificationVersion)
    if spec.WhichOneof("Type") != "mlProgram":
        problems.append(f"model type is {spec.WhichOneof('Type')}, not mlProgram")
    elif "main" not in spec.mlProgram.functions:
        problems.append("ML Program has no main function")
    else:
        ops = main_ops(spec)
        report["ops"] = sorted({op.type for op in ops})
        root = Path(model.weights_dir).parent if model.weights_dir else Path(path) / "Data" / "com.apple.CoreML"
        missing = set()
        for b in (v.blobFileValue for op in ops for v in op.attributes.values() if v.HasField("blobFileValue")):
            blob = root / b.fileName.replace("@model_path/", "")
            if not blob.is_file() or blob.stat().st_size <= b.offset:
                missing.add(b.fileName)
        if missing:
            problems.append(f"weight file(s) missing or truncated: {', '.join(sorted(missing))}")
    if report["spec_version"] < MIN_SPEC_VERSION:
        problems.append(f"spec version {report['spec_version']} is below {MIN_SPEC_VERSION} (iOS16 ML Program)")
    for kind, want, have in (("input", entry_inputs, spec.description.input), ("output", entry_outputs, spec.description.output)):
        got = tensor_specs(have)
        if [t.name for t in got] != [t.name for t in want]:
            problems.append(f"{kind} names {[t.name for t in got]} != manifest {[t.name for t in want]}")
            continue
        for g, w in zip(got, want):
            if list(g.shape) != list(w.shape):
                problems.append(f"{kind} {g.name}: shape {g.shape} != manifest {list(w.shape)}")
            if g.dtype != w.dtype:
                problems.append(f"{kind} {g.name}: dtype {g.dtype} != manifest {w.dtype}")
    report["ok"] = not problems
    return report
