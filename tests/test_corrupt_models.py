"""Corrupt but well-formed .tflite files (valid flatbuffers, fields changed, sha256 updated in the manifest) never
crash the process that loads them: the runtime loads each file in a child process first and turns a native crash
there into a BundleError. The mutants run in a child of the test too, so a crash fails this test instead of pytest."""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from animetool_runtime.manifest import sha256_path
from conftest import small_bundle

S = pytest.importorskip("ai_edge_litert.schema_py_generated")
flatbuffers = pytest.importorskip("flatbuffers")

RUN = r"""
import json, sys
import numpy as np
from animetool_runtime import BundleError, load
outcome = {}
for path in sys.argv[1:]:
    try:
        model = load(path, backend="tflite", precision="int8").model()
        model.run(*[np.zeros(s.shape, np.float32) for s in model.entry.inputs])
        outcome[path] = "ran"
    except BundleError as e:
        assert "\n" not in str(e)
        outcome[path] = "crash refused" if "crashed" in str(e) else "refused"
print(json.dumps(outcome))
"""


def _mutants(model, rng: np.random.Generator) -> list:
    """Each operator writing into its own input (LiteRT aborts on some), then random field changes."""
    graph = model.subgraphs[0]
    out = []
    for k, op in enumerate(graph.operators):
        if op.inputs is not None and len(op.inputs) and op.outputs is not None and len(op.outputs):
            m = copy.deepcopy(model)
            m.subgraphs[0].operators[k].outputs[0] = int(op.inputs[0])
            out.append(m)
    for _ in range(20):
        m = copy.deepcopy(model)
        g = m.subgraphs[0]
        t = g.tensors[rng.integers(len(g.tensors))]
        op = g.operators[rng.integers(len(g.operators))]
        kind = rng.integers(4)
        if kind == 0:
            t.shape = [int(x) for x in rng.integers(-2, 300, size=rng.integers(0, 5))]
        elif kind == 1:
            t.buffer = int(rng.integers(0, len(m.buffers) + 3))
        elif kind == 2:
            op.opcodeIndex = int(rng.integers(0, len(m.operatorCodes) + 2))
        elif op.inputs is not None and len(op.inputs):
            op.inputs[rng.integers(len(op.inputs))] = int(rng.integers(-1, len(g.tensors) + 3))
        out.append(m)
    return out


def test_corrupt_tflite_files_are_refused_without_crashing(tmp_path, tmp_path_factory):
    src = small_bundle(tmp_path_factory)
    manifest = json.loads((src / "manifest.json").read_text())
    entry = next(e for e in manifest["models"] if e["format"] == "tflite" and e["precision"] == "int8")
    model = S.ModelT.InitFromObj(S.Model.GetRootAs((src / entry["file"]).read_bytes(), 0))
    bundles = []
    for i, mutant in enumerate(_mutants(model, np.random.default_rng(0))):
        root = tmp_path / f"b{i}"
        root.mkdir()
        shutil.copytree(src / "reference", root / "reference")
        builder = flatbuffers.Builder(1024)
        builder.Finish(mutant.Pack(builder), file_identifier=b"TFL3")
        (root / entry["file"]).write_bytes(builder.Output())
        one = dict(entry, sha256=sha256_path(root / entry["file"]))
        (root / "manifest.json").write_text(json.dumps(dict(manifest, models=[one])))
        bundles.append(str(root))
    proc = subprocess.run([sys.executable, "-c", RUN, *bundles], capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "ANIMETOOL_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, f"the loading process died ({proc.returncode}):\n{proc.stderr[-3000:]}"
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(outcome) == len(bundles)
    assert "crash refused" in outcome.values(), outcome  # the probe met a file that crashes LiteRT, and held
