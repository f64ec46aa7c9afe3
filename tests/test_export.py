"""Every registered model exported to every target x precision, verified against PyTorch through the runtime."""
from __future__ import annotations

import json

import numpy as np
import pytest

from animetool.export import targets
from animetool.models import REGISTRY, list_models
from animetool_runtime import load
from animetool_runtime.manifest import Manifest, sha256_path
from animetool_runtime.parity import TOLERANCES, reference, to_layout

NUMERIC = [(m, t, p) for m in list_models() for t in ("onnx", "tflite", "openvino") for p in ("fp32", "fp16", "int8")]
COREML = [(m, p) for m in list_models() for p in targets()["coreml"].precisions]


def test_manifest_lists_every_export(full_bundle):
    manifest = Manifest.read(full_bundle / "manifest.json")
    keys = {e.key for e in manifest.models}
    assert {f"{m}/{t}/{p}" for m, t, p in NUMERIC} | {f"{m}/coreml/{p}" for m, p in COREML} == keys
    for e in manifest.models:
        assert sha256_path(full_bundle / e.file) == e.sha256
        assert e.source["licence"] and e.source["weights_sha256"] and e.source["recipe"].startswith("animetool export")
        assert e.preprocess["size"] == list(REGISTRY[e.name].input_shape[2:])
        layout = "NHWC" if e.format == "tflite" else "NCHW"
        assert [s.layout for s in e.inputs] == [layout] and all(s.layout == layout for s in e.outputs)


@pytest.mark.parametrize("model,target,precision", NUMERIC)
def test_parity_within_stated_bounds(verified, model, target, precision):
    res = verified[f"{model}/{target}/{precision}"]
    assert res["status"] == "ok", res
    tol = TOLERANCES[precision]
    for figures in res["outputs"].values():
        assert figures["rel_mean"] <= tol["mean"]
        if "psnr_db" in figures:  # images: the generator issue's bar, 30 dB at int8 (and far above it in float)
            assert figures["psnr_db"] >= tol.get("psnr_db", 30)
        if not ("psnr_db" in figures and "psnr_db" in tol):
            assert figures["rel_max"] <= tol["max"]


@pytest.mark.parametrize("model,precision", COREML)
def test_coreml_structure(verified, model, precision):
    res = verified[f"{model}/coreml/{precision}"]
    assert res["status"] == "structural-ok", res
    assert res["problems"] == [] and res["spec_version"] >= 7 and "conv" in res["ops"]
    if precision == "int8":
        assert {"quantize", "dequantize"} <= set(res["ops"])
    if precision == "palette4":
        assert "constexpr_lut_to_dense" in res["ops"]


def test_verify_records_parity_in_manifest(verified, full_bundle):
    manifest = json.loads((full_bundle / "manifest.json").read_text())
    assert all(m["parity"]["status"] in ("ok", "structural-ok") for m in manifest["models"])


def test_tflite_int8_is_integer_and_runtime_dequantizes(full_bundle):
    """The int8 TFLite file has int8 I/O; the runtime takes and gives floats in NHWC from the manifest's scale/zero-point."""
    b = load(full_bundle, backend="tflite", precision="int8")
    m = b.model("pose-student-s")
    assert m.entry.inputs[0].dtype == "int8" and m.entry.inputs[0].scale > 0
    x, refs = reference(full_bundle / m.entry.reference)
    names = [o.name for o in m.entry.outputs]
    y = m.run(to_layout(x[:1], "NCHW", "NHWC"))[names.index("heatmaps")]
    assert y.dtype == np.float32 and y.shape == tuple(m.entry.outputs[names.index("heatmaps")].shape)
    ref = refs["heatmaps"][:1]
    assert np.abs(to_layout(y, "NHWC", "NCHW") - ref).mean() < 0.02 * (ref.max() - ref.min())


def test_runtime_default_choice_prefers_small_passing_file(full_bundle):
    b = load(full_bundle, backend="onnx")
    assert b.entry("generator-standin").precision == "int8"
    assert load(full_bundle, backend="openvino", precision="fp16").entry(task="pose").file.endswith(".fp16.xml")


def test_zip_bundle_loads_and_verifies(tmp_path, full_bundle):
    from conftest import animetool

    out = tmp_path / "b.zip"
    animetool("export", "generator-standin", "-t", "onnx", "-p", "int8", "-o", str(out))
    assert load(out).model("generator-standin").run(np.zeros((1, 3, 128, 128), np.float32))[0].shape == (1, 3, 128, 128)
    proc = animetool("verify", str(out), "--json")
    assert json.loads(proc.stdout)[0]["status"] == "ok"
    assert load(out).manifest.models[0].parity["status"] == "ok"  # written back into the zip
