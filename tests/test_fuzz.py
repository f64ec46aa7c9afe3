"""Fuzzing the bundle contract: any manifest, however damaged, is read, chosen from, opened, run and verified with at
most a BundleError (one line, naming manifest and field or file); never another exception."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from animetool_runtime import BundleError, load
from animetool_runtime.parity import measure
from conftest import small_bundle

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["NHWC", "int8", "uint8", "float16", "tflite", "pose", "heatmap-argmax", "multipose", "letterbox",
                       "../x.onnx", "/etc/passwd", "reference/generator-standin.npz", "generator-standin.int8.tflite"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@st.composite
def damaged(draw, manifest: dict) -> dict:
    """The manifest with 1-3 places changed: a value replaced, a key deleted, or a list item dropped or duplicated."""
    out = copy.deepcopy(manifest)
    for _ in range(draw(st.integers(1, 3))):
        node = out
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, (dict, list)) and child and draw(st.booleans()):
                node = child
                continue
            action = draw(st.sampled_from(["replace", "replace", "delete", "duplicate"]))
            if action == "replace":
                node[key] = draw(VALUES)
            elif action == "delete":
                del node[key]
            elif isinstance(node, list):
                node.append(copy.deepcopy(child))
            break
    return out


def exercise(bundle_path: Path) -> None:
    """Everything a user does with a bundle: load, pick per backend, open, run on zeros, verify against the reference."""
    bundle = load(bundle_path)
    for backend in ("onnx", "tflite"):
        bundle.entry(task="generator") if bundle.manifest.models else None
        load(bundle_path, backend=backend).model()
    for entry in bundle.manifest.models:
        model = bundle.open_entry(entry)
        model.run(*[np.zeros(s.shape, np.float32) for s in entry.inputs])
        if entry.reference:
            measure(model, bundle.root / entry.reference)


@pytest.fixture(scope="module")
def fuzz_bundle(tmp_path_factory) -> tuple[Path, dict]:
    root = Path(shutil.copytree(small_bundle(tmp_path_factory), tmp_path_factory.mktemp("fuzz") / "bundle"))
    return root, json.loads((root / "manifest.json").read_text())


def test_the_undamaged_bundle_passes(fuzz_bundle):
    exercise(fuzz_bundle[0])


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_damaged_manifests_give_a_bundle_error_or_work(fuzz_bundle, data):
    root, manifest = fuzz_bundle
    bad = data.draw(damaged(manifest))
    (root / "manifest.json").write_text(json.dumps(bad))
    try:
        exercise(root)
    except BundleError as e:
        assert "\n" not in str(e) and str(e).strip(), repr(e)
    finally:
        (root / "manifest.json").write_text(json.dumps(manifest))
