"""Every registered model exported to every target x precision and verified against PyTorch through the runtime.

The exhaustive matrix is `slow` (one export of each model to every target, run last); the checks of the runtime's
int8 handling, its choice of file and zip bundles use the default models' bundle and run with the fast tests."""
from __future__ import annotations

import gc
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from animetool.export import targets
from animetool.models import REGISTRY, list_models
from animetool_runtime import device, load
from animetool_runtime.formats import BY_BACKEND, FORMATS
from animetool_runtime.manifest import Manifest, sha256_path
from animetool_runtime.parity import TOLERANCES, reference, to_layout
from conftest import animetool

TARGETS = list(targets())


def test_every_format_is_one_record_one_backend_one_exporter():
    """formats.FORMATS is the list of targets: each has its runtime backend module, its exporter, and, where it cannot
    run everywhere, the structural check verify falls back on; --backend names and aliases resolve to it."""
    import importlib

    from animetool_runtime.backends import backend_format

    assert TARGETS == list(FORMATS) and list(BY_BACKEND) == [f.backend for f in FORMATS.values()]
    for f in FORMATS.values():
        mod = importlib.import_module(f"animetool_runtime.backends.{f.backend}")
        assert callable(mod.check_available) and hasattr(mod, "Backend")
        assert targets()[f.name].fn and set(targets()[f.name].precisions) >= {"fp32", "int8"}
        if f.platforms:  # what cannot run everywhere can at least be read where it cannot
            assert callable(mod.structural_check), f.name
        assert all(backend_format(a) is f for a in (f.backend, *f.aliases))


@pytest.fixture(scope="session", params=list_models())
def model_matrix(request, tmp_path_factory) -> tuple[str, Path, dict]:
    """One registered model to every target at every precision it offers, in one export (its calibration, reference
    outputs and int8 lint measured once, not once per target), then `animetool verify --json` on it: the model, the
    bundle, verify's rows by key. One export per model, so the workers of a parallel run share the matrix."""
    model = request.param
    precisions = list(dict.fromkeys(p for t in targets().values() for p in t.precisions))
    out = tmp_path_factory.mktemp(f"matrix-{model}") / "bundle"
    animetool("export", model, "-t", ",".join(TARGETS), "-p", ",".join(precisions), "-o", str(out))
    proc = animetool("verify", str(out), "--json", check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return model, out, {r["key"]: r for r in json.loads(proc.stdout)}


@pytest.mark.slow
def test_manifest_lists_every_export(model_matrix):
    model, bundle, verified = model_matrix
    manifest = Manifest.read(bundle / "manifest.json")
    assert {e.key for e in manifest.models} == {f"{model}/{t}/{p}" for t in TARGETS for p in targets()[t].precisions} \
        == set(verified)
    assert not manifest.failed
    for e in manifest.models:
        assert sha256_path(bundle / e.file) == e.sha256 and e.export["size_bytes"] > 0
        assert e.source["licence"] and e.source["weights_sha256"] and e.source["recipe"].startswith("animetool export")
        assert e.preprocess.size == REGISTRY[e.name].input_shape[2:]
        layout = FORMATS[e.format].layout
        assert [s.layout for s in e.inputs] == [layout] and all(s.layout == layout for s in e.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_every_file_within_stated_bounds(model_matrix, target):
    model, bundle, verified = model_matrix
    for precision in targets()[target].precisions:
        res = verified[f"{model}/{target}/{precision}"]
        assert res["verified_on"]["cpu_features"] == device.cpu_features()
        if not FORMATS[target].runs_here():  # Core ML off macOS: structure, ops and I/O against the manifest
            assert res["status"] in ("structural-ok", "ok"), res
            if res["status"] == "structural-ok":
                assert res["problems"] == [] and res["spec_version"] >= 7 and "conv" in res["ops"]
                assert {"int8": {"quantize", "dequantize"}, "palette4": {"constexpr_lut_to_dense"}}.get(precision, set()) <= set(res["ops"])
            continue
        assert res["status"] == "ok", (precision, res)
        tol = TOLERANCES[precision]
        for figures in res["outputs"].values():
            assert figures["rel_mean"] <= tol["mean"], (precision, figures)
            if "psnr_db" in figures:  # images: the generator issue's bar, 30 dB at int8 (and far above it in float)
                assert figures["psnr_db"] >= tol.get("psnr_db", 30), (precision, figures)
            if not ("psnr_db" in figures and "psnr_db" in tol):
                assert figures["rel_max"] <= tol["max"], (precision, figures)


@pytest.mark.slow
def test_verify_records_parity_in_manifest(model_matrix):
    _, bundle, _ = model_matrix
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert all(m["parity"]["status"] in ("ok", "structural-ok") for m in manifest["models"])
    assert all(m["parity"]["verified_on"]["cpu_features"] == device.cpu_features() for m in manifest["models"])


def test_tflite_int8_is_integer_and_runtime_dequantizes(app_bundle):
    """The int8 TFLite file has int8 I/O; the runtime takes and gives floats in NHWC from the manifest's scale/zero-point."""
    b = load(app_bundle, backend="tflite", precision="int8")
    m = b.model("pose-student-s")
    assert m.entry.inputs[0].dtype == "int8" and m.entry.inputs[0].scale > 0
    x, refs = reference(app_bundle / m.entry.reference)
    names = [o.name for o in m.entry.outputs]
    y = m.run(to_layout(x[:1], "NCHW", "NHWC"))[names.index("heatmaps")]
    assert y.dtype == np.float32 and y.shape == tuple(m.entry.outputs[names.index("heatmaps")].shape)
    ref = refs["heatmaps"][:1]
    assert np.abs(to_layout(y, "NHWC", "NCHW") - ref).mean() < 0.02 * (ref.max() - ref.min())


def test_export_checks_every_file_against_pytorch(app_bundle):
    """export itself runs each file against PyTorch (parity in the manifest from the start, with the machine's ISA)."""
    manifest = Manifest.read(app_bundle / "manifest.json")
    assert len(manifest.models) == 18 and all(e.parity["status"] == "ok" for e in manifest.models)
    assert all(e.parity["verified_on"]["cpu_features"] == device.cpu_features() for e in manifest.models)


def test_runtime_default_choice_prefers_small_passing_file(app_bundle):
    b = load(app_bundle, backend="onnx")
    assert b.entry("generator-student").precision == "int8"
    assert load(app_bundle, backend="openvino", precision="fp32").entry(task="pose").file.endswith(".fp32.xml")


def test_zip_bundle_loads_and_verifies(tmp_path):
    out = tmp_path / "b.zip"
    proc = animetool("export", "generator-standin", "-t", "onnx", "-p", "int8", "-o", str(out))
    assert "generator-standin.int8.onnx" in proc.stdout and "animetool bench" in proc.stdout  # the summary table
    assert load(out).model("generator-standin").run(np.zeros((1, 3, 128, 128), np.float32))[0].shape == (1, 3, 128, 128)
    proc = animetool("verify", str(out), "--json")
    assert json.loads(proc.stdout)[0]["status"] == "ok"
    assert load(out).manifest.models[0].parity["status"] == "ok"  # written back into the zip
    bundle = load(out)
    root = bundle.root
    assert (root / "manifest.json").is_file()
    del bundle
    gc.collect()
    assert not root.exists()  # the extracted files go with the bundle, not at exit (which a killed process skips)
    proc = animetool("verify", str(out))
    assert f"on {device.cpu_name()}" in proc.stdout and " ".join(device.cpu_features()) in proc.stdout  # the header


def test_a_model_without_an_image_input_exports_to_every_target(tmp_path):
    """A user's sequence model (N, T, C): fp32 and fp16 are compared with PyTorch on standard normal inputs, int8
    calibrates on the user's .npy (and without one says so in one line), every target that runs here runs it, and
    Core ML's int8, whose torch-side W8A8 cannot take a Conv1d, falls back to int8 weights and says why."""
    from tensor_models import sequence

    user = {"PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    shape = ("--input-shape", "1,20,12")
    animetool("export", "tensor_models:sequence", *shape, "-t", "all", "-p", "fp32,fp16", "-o", str(tmp_path / "f"), env=user)
    no_calib = animetool("export", "tensor_models:sequence", *shape, "-t", "onnx", "-p", "int8", "-o", str(tmp_path / "x"),
                         env=user, check=False)
    assert no_calib.returncode == 2 and no_calib.stderr.strip().splitlines()[-1].startswith("error: input [1, 20, 12] is not an image")
    assert not (tmp_path / "x").exists()
    x = np.random.default_rng(0).normal(size=(40, 20, 12)).astype(np.float32)
    np.save(tmp_path / "seq.npy", x)
    animetool("export", "tensor_models:sequence", *shape, "--calib", str(tmp_path / "seq.npy"), "-t", "all", "-p", "int8",
              "-o", str(tmp_path / "q"), env=user)
    want = sequence()(torch.from_numpy(x[:1])).detach().numpy()
    for folder, precisions in (("f", ("fp32", "fp16")), ("q", ("int8",))):
        manifest = Manifest.read(tmp_path / folder / "manifest.json")
        assert not manifest.failed and {e.precision for e in manifest.models} == set(precisions)
        for e in manifest.models:
            assert e.parity["status"] == ("structural-ok" if e.format == "coreml" else "ok"), (e.key, e.parity)
            assert e.preprocess.kind == "tensor" and e.preprocess.size is None and e.inputs[0].shape == [1, 20, 12]
            if e.format != "coreml":
                got = load(tmp_path / folder, backend=FORMATS[e.format].backend, precision=e.precision).model(
                    name="sequence").run(x[:1])[0]
                assert got.shape == (1, 5) and np.abs(got - want).max() < 0.05 * np.abs(want).max() + 1e-3, e.key
    coreml = next(e for e in Manifest.read(tmp_path / "q" / "manifest.json").models if e.format == "coreml")
    assert coreml.export["quantization"].startswith("weight-only int8") and "W8A8 was not possible" in coreml.export["quantization"]


def test_core_ml_int8_of_a_model_with_stochastic_depth_is_w8a8(tmp_path):
    """coremltools' W8A8 traces the model in training mode, where stochastic depth is a random op (bernoulli_) Core ML
    cannot convert (torchvision's EfficientNet fell back to int8 weights, zoo): dropouts go first, as in eval mode."""
    user = {"PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    r = animetool("export", "tensor_models:residual", "--input-shape", "1,3,32,32", "-t", "coreml", "-p", "int8",
                  "-o", str(tmp_path / "b"), "--json", env=user)
    (entry,) = json.loads(r.stdout)["models"]
    assert entry["parity"]["status"] == "structural-ok" and entry["export"]["quantization"].startswith("W8A8"), entry["export"]


def test_tflite_int8_gives_a_detectors_concatenated_outputs_one_range_over_every_level(tmp_path):
    """A detector's per-level outputs concatenated (SSDlite's heads): unannotated, litert's converter gave the int8
    output a scale that fits one level and clipped the others into it (SSDlite: worst value off by 0.46 of the range,
    where ONNX and OpenVINO passed; this model: 0.45-0.56). Each output gets one min/max range over all its levels: the worst value is within the
    int8 bar with nothing kept float, and the output's int8 range covers the reference's."""
    user = {"PYTHONPATH": f"{Path(__file__).parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    r = animetool("export", "tensor_models:two_level_heads", "--input-shape", "1,3,64,64", "-t", "tflite", "-p", "int8",
                  "--keep-float", "none", "-o", str(tmp_path / "b"), "--json", env=user)
    (entry,) = json.loads(r.stdout)["models"]
    assert entry["parity"]["status"] == "ok", entry["parity"]
    assert all(o["rel_max"] < 0.1 for o in entry["parity"]["outputs"].values()), entry["parity"]
    with np.load(tmp_path / "b" / "reference" / "two-level-heads.npz") as z:
        refs = [z[k] for k in z.files if k.startswith("output:")]
    for spec, ref in zip(entry["outputs"], refs):
        assert spec["dtype"] != "int8" or 127 * spec["scale"] >= 0.5 * np.abs(ref).max(), (spec, np.abs(ref).max())
