"""The zoo benchmark's subset CI runs: architectures written by others (torchvision, timm; benchmarks/zoo.py) through
the real export, verify and bench, as `benchmarks/zoo_bench.py` runs them all."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import animetool

ROOT = Path(__file__).resolve().parent.parent


def test_zoo_bench_subset(tmp_path):
    """MobileNet v3 (hardswish, squeeze-excite, conv + BatchNorm) to ONNX and TFLite, fp32 and int8: torchvision imports
    on a CPU-only machine, the ImageNet normalisation reaches the manifest, every cell passes its bar, the table and
    totals are written with the machine's CPU flags."""
    proc = subprocess.run([sys.executable, "benchmarks/zoo_bench.py", "--models", "mobilenet_v3_small",
                           "--targets", "onnx,tflite", "--precisions", "fp32,int8", "--size", "128", "--runs", "2",
                           "--bundles", str(tmp_path / "bundles"), "--results", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (js,) = tmp_path.glob("zoo-*.json")
    result = json.loads(js.read_text())
    rows = {(r["format"], r["precision"]): r for m in result["models"] for r in m["rows"]}
    assert sorted(rows) == sorted((t, p) for t in ("onnx", "tflite") for p in ("fp32", "int8"))
    assert all(r["status"] == "ok" and r["p50_ms"] > 0 for r in rows.values()), rows
    assert result["totals"]["all"] == "4/4" and result["device"]["cpu_features"] is not None
    manifest = json.loads((tmp_path / "bundles" / "mobilenet_v3_small" / "manifest.json").read_text())
    assert manifest["models"][0]["preprocess"]["mean"] == [0.485, 0.456, 0.406]
    int8 = [m["export"]["quantization"] for m in manifest["models"] if m["precision"] == "int8"]
    assert int8 and not any("transformer" in q for q in int8)  # a CNN keeps the CNN scheme (its adds in int8)
    assert "| mobilenet_v3_small | 128 | onnx | int8 | ok |" in js.with_suffix(".md").read_text()


def test_a_whole_detector_fails_in_one_line_naming_the_workaround(tmp_path):
    """SSDlite with its NMS inside forward cannot be one static graph: one line that says why (no 4,000-line dump);
    its network without the decoding (benchmarks.zoo:ssdlite320_heads) exports."""
    r = animetool("export", "benchmarks.zoo:ssdlite320_mobilenet_v3_large", "--input-shape", "1,3,320,320",
                  "-o", str(tmp_path / "b"), check=False, cwd=ROOT)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "depends on the input's values" in last and "NMS" in last and len(last) < 500
    r = animetool("export", "benchmarks.zoo:ssdlite320_heads", "--input-shape", "1,3,320,320", "-o",
                  str(tmp_path / "h"), "--json", cwd=ROOT)
    (m,) = json.loads(r.stdout)["models"]
    assert m["parity"]["status"] == "ok" and [o["shape"] for o in m["outputs"]] == [[1, 3234, 4], [1, 3234, 91]]


def test_a_transformer_keeps_its_int8_accuracy_by_itself(tmp_path):
    """ViT-Tiny's int8 missed its bar on ONNX and OpenVINO (relative error 6.0e-2 and 4.9e-2, zoo) even with 8 layers
    kept in float: the exporters find attention in the graph and use each target's transformer recipe (onnxruntime:
    softmax, layer norm, residual add/mul and attention's products in float; NNCF's transformer model type), and
    both files pass with no layer kept in float."""
    r = animetool("export", "benchmarks.zoo:vit_tiny_patch16_224", "--input-shape", "1,3,224,224",
                  "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "-t", "onnx,openvino", "-p", "int8",
                  "--keep-float", "none", "-o", str(tmp_path / "b"), "--json", cwd=ROOT)
    models = json.loads(r.stdout)["models"]
    assert {m["format"]: m["parity"]["status"] for m in models} == {"onnx": "ok", "openvino": "ok"}, \
        [(m["format"], m["parity"]) for m in models]
    assert all("transformer" in m["export"]["quantization"] and not m["export"]["kept_float"] for m in models)


def test_keep_float_reaches_onnx_through_its_pre_processing(tmp_path):
    """onnxruntime's pre-processing (which rewrites MobileNet v3's hardswish) drops the module paths --keep-float
    finds a layer's nodes by: they are copied back, so the kept conv's weights stay float (before, nothing did)."""
    import onnx

    int8_convs = {}
    for k in ("features.1.block.0.0", "none"):
        out = tmp_path / k.replace(".", "_")
        animetool("export", "benchmarks.zoo:mobilenet_v3_small", "--input-shape", "1,3,128,128", "-t", "onnx", "-p",
                  "int8", "--keep-float", k, "-o", str(out), cwd=ROOT)
        graph = onnx.load(str(out / "mobilenet-v3-small.int8.onnx")).graph
        int8_convs[k] = sum(t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4 for t in graph.initializer)
    assert 0 < int8_convs["features.1.block.0.0"] < int8_convs["none"], int8_convs
