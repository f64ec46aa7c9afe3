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
