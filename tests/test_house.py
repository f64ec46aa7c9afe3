"""The toolchain's rooms import one way: data <- train, data <- export, commands on top; no module imports in a loop."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLCHAIN = ROOT / "toolchain"


def _modules() -> dict[str, Path]:
    out = {}
    for f in TOOLCHAIN.rglob("*.py"):
        parts = f.relative_to(TOOLCHAIN).with_suffix("").parts
        out[".".join(("animetool",) + (parts[:-1] if parts[-1] == "__init__" else parts))] = f
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The toolchain modules this one imports (at the top or inside a function: a lazy import still ties the two)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") if node.level \
                else node.module
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, loops = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                loops.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return loops


def test_toolchain_has_rooms_and_no_import_loops():
    mods = _modules()
    graph = {m: _imports(m, p, set(mods)) for m, p in mods.items()}
    assert not _loops(graph), _loops(graph)
    room = {m: "top" if p.parent == TOOLCHAIN else p.parent.name for m, p in mods.items()}
    allowed = {"data": {"data", "top"}, "train": {"data", "train", "top"}, "export": {"data", "export", "top"}}
    for m, deps in graph.items():
        for d in deps:
            # top-level helpers a room may use are leaves (console, pose_metrics, the package itself), never commands
            if room[m] in allowed:
                assert room[d] in allowed[room[m]], f"{m} (room {room[m]}) imports {d} (room {room[d]})"
                assert room[d] != "top" or d in ("animetool", "animetool.console", "animetool.pose_metrics"), (m, d)
    assert {room[m] for m in mods} == {"top", "data", "train", "export"}
    flat = [m for m in mods if room[m] == "top" and m != "animetool"]
    assert len(flat) <= 8, f"the top holds commands and two shared leaves only: {sorted(flat)}"


def test_models_import_torch_only():
    for f in (ROOT / "models").glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for n in names:
                assert n.split(".")[0] in {"torch", "__future__", "dataclasses", "pathlib", "typing", "math",
                                           "safetensors"}, f"{f.name} imports {n}"


def test_manifest_blocks_are_typed_with_one_home_for_their_defaults(tmp_path):
    """Pre- and post-processing are typed blocks whose defaults and rules live in blocks.py: a manifest read fills the
    missing keys, written out it gives every field, an unknown key or a bad value is one BundleError naming the field,
    and the web app's copy of the defaults (lib/blocks.js) is the one blocks.py writes."""
    import json
    import re

    import pytest

    from animetool_runtime.blocks import Conditioning, Postprocess, Preprocess, web_module
    from animetool_runtime.manifest import BundleError, Manifest, ModelEntry, TensorSpec

    assert (ROOT / "android_demo/web/lib/blocks.js").read_text() == web_module(), \
        "run: python -m animetool_runtime _blocks_js > android_demo/web/lib/blocks.js"
    t = TensorSpec("x", [1, 60, 8, 8], "float32")
    entry = ModelEntry("g", "generator", "onnx", "fp32", "g.onnx", "0" * 64, [t], [t],
                       preprocess={"kind": "conditioning", "size": [8, 8], "layout": 4})  # before the block: its version
    assert isinstance(entry.preprocess, Preprocess) and isinstance(entry.postprocess, Postprocess)
    assert entry.preprocess.conditioning == Conditioning(layout=4) and entry.preprocess.fill == 0.8
    path = tmp_path / "manifest.json"
    good = Manifest([entry]).to_json()
    path.write_text(good)
    written = json.loads(good)["models"][0]
    assert set(written["preprocess"]) == {f for f in Preprocess.__dataclass_fields__}
    assert written["preprocess"]["conditioning"] == {"layout": 4, "groups": []}
    assert Manifest.read(path).models[0].preprocess == entry.preprocess
    older = json.loads(good)  # a bundle from an earlier version: a key it wrote that nothing reads now still loads
    older["models"][0]["postprocess"]["keypoint_threshold"] = 0.2
    path.write_text(json.dumps(older))
    assert Manifest.read(path).models[0].postprocess == entry.postprocess
    for block, key, value, said in (("preprocess", "colour", "RGB", "preprocess.colour must be a known key"),
                                    ("preprocess", "fill", 2, "preprocess.fill must be a number in (0, 1]"),
                                    ("postprocess", "stride", 0, "postprocess.stride must be an integer 1-1024")):
        bad = json.loads(good)
        bad["models"][0][block][key] = value
        path.write_text(json.dumps(bad))
        with pytest.raises(BundleError, match=re.escape(f"manifest.json: models[0].{said}")):
            Manifest.read(path)
    bad = json.loads(good)
    bad["models"][0]["preprocess"] = {"kind": "conditioning", "size": [8, 8], "conditioning": {
        "layout": 4, "groups": [{"name": "keypoints", "channels": 17}]}}  # 17 channels described, the input has 60
    path.write_text(json.dumps(bad))
    with pytest.raises(BundleError, match=r"preprocess\.conditioning\.groups must be groups whose channels add up to the input's 60"):
        Manifest.read(path)
