"""The field's architectures (benchmarks/zoo.py: torchvision and timm, random weights) through export, verify and bench
as a user runs them, every target x precision: a table like `yolo benchmark` with totals.

    pip install -c constraints.txt -e ".[all,bench,zoo]"
    python benchmarks/zoo_bench.py [--models mobilenet_v2,resnet18] [--targets all] [--precisions all] [--runs 20]

Each model: `animetool export benchmarks.zoo:NAME --input-shape 1,3,S,S --mean/--std (ImageNet) -t ... -p ... --json`
(int8 with --keep-float auto: the accuracy-controlled search), then `animetool bench --json`. Bundles go to runs/zoo/
and a model whose bundle was made by the same command is not exported again (an interrupted run resumes). Writes
benchmarks/results/zoo-<cpu>-<cores>.json and .md with the machine and its CPU flags.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.progress import Progress

from animetool_runtime import device
from animetool_runtime.atomic import atomic_path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
IMAGENET = ["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]
OK = ("ok", "structural-ok")  # structural-ok: a Core ML file checked without running it (Core ML runs only on macOS)


def run(*args: str, timeout: float = 7200) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run([sys.executable, "-m", "animetool.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def quantizable_layers(name: str) -> list[str]:
    """Conv and Linear modules' paths: what int8 quantizes and --keep-float can leave in float."""
    import torch

    sys.path.insert(0, str(ROOT))
    from benchmarks import zoo

    model = getattr(zoo, name)()
    return [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.ConvTranspose2d))]


def one_model(name: str, size: int, targets: str, precisions: str, runs: int, bundles: Path) -> dict:
    """Export, then bench, one zoo model; every cell a row (export-failed cells with their reason)."""
    out = bundles / name
    command = ["export", f"benchmarks.zoo:{name}", "--input-shape", f"1,3,{size},{size}", *IMAGENET,
               "-t", targets, "-p", precisions, "-o", str(out), "--json"]
    done = out / "manifest.json"
    cached = done.is_file() and json.loads(done.read_text())["models"][0]["source"].get("recipe", "").endswith(
        " ".join(command))
    start = time.perf_counter()
    if not cached:
        proc = run(*command)
        if proc.returncode == 2:  # every cell failed: nothing written
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1].removeprefix("error: ")
            return {"model": name, "size": size, "rows": [], "error": reason}
        if proc.returncode not in (0, 1):
            raise SystemExit(f"animetool {' '.join(command)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    manifest = json.loads(done.read_text())
    seconds = round(time.perf_counter() - start, 1) if not cached else None
    bench = run("bench", str(out), "--runs", str(runs), "--warmup", "3", "--json")
    rows = json.loads(bench.stdout)["rows"] if bench.stdout.strip() else []
    layers = quantizable_layers(name)
    by_key = {(m["format"], m["precision"]): m for m in manifest["models"]}
    for r in rows:
        m = by_key.get((r["format"], r["precision"]))
        if m is None:
            continue
        r["status"] = m["parity"]["status"] if r["status"] in ("ok", "skipped") else r["status"]
        r["size_mb"] = round(m["export"]["size_bytes"] / 1e6, 3)
        r["parity"] = r.get("parity") or {k: v for k, v in (m["parity"] or {}).items() if k.startswith("rel_")}
        if r["precision"] == "int8":
            kept = m["export"].get("kept_float", [])  # module paths: a layer, or a block of several
            r["kept_float"] = sum(any(n == k or n.startswith(k + ".") for k in kept) for n in layers)
            r["tries"] = len(m["export"].get("float_search", [])) or 1
    return {"model": name, "size": size, "layers": len(layers), "export_seconds": seconds, "rows": rows}


def totals(results: list[dict], targets: list[str], precisions: list[str]) -> dict:
    cells = [(r["format"], r["precision"], r["status"] in OK) for res in results for r in res["rows"]]
    cells += [(t, p, False) for res in results if res.get("error") for t in targets for p in precisions]
    by = lambda i, v: f"{sum(c[2] for c in cells if c[i] == v)}/{sum(1 for c in cells if c[i] == v)}"  # noqa: E731
    return {"precision": {p: by(1, p) for p in precisions}, "target": {t: by(0, t) for t in targets},
            "all": f"{sum(c[2] for c in cells)}/{len(cells)}"}


def int8_cost(results: list[dict]) -> dict:
    """Of the int8 files that pass: layers kept float (share of the model's), and int8's latency against fp32's."""
    kept, speed = [], []
    for res in results:
        fp32 = {r["format"]: r.get("p50_ms") for r in res["rows"] if r["precision"] == "fp32"}
        for r in res["rows"]:
            if r["precision"] == "int8" and r["status"] in OK:
                kept.append(r.get("kept_float", 0) / max(1, res.get("layers", 1)))
                if r.get("p50_ms") and fp32.get(r["format"]):
                    speed.append(fp32[r["format"]] / r["p50_ms"])
    mean = lambda v: round(sum(v) / len(v), 3) if v else None  # noqa: E731
    return {"int8_passing": len(kept), "mean_share_kept_float": mean(kept), "mean_speedup_vs_fp32": mean(speed)}


def markdown(result: dict) -> str:
    d, t = result["device"], result["totals"]
    lines = [f"# Zoo: {len(result['models'])} architectures of the field through export, verify and bench", "",
             f"Device: {device.short(d)}, {d['os']}, Python {d['python']}; "
             f"{', '.join(f'{k} {v}' for k, v in d['packages'].items())}. Random weights (BN statistics re-estimated "
             f"on photo crops), ImageNet --mean/--std; {result['runs']} timed runs per row, 1 thread. "
             f"Command: `{result['command']}`.", "",
             f"Passing (ok; Core ML: structural-ok, as it runs only on macOS): {t['all']} cells; by precision "
             + ", ".join(f"{k} {v}" for k, v in t["precision"].items()) + "; by target "
             + ", ".join(f"{k} {v}" for k, v in t["target"].items()) + ".", ""]
    c = result["int8_cost"]
    if c["int8_passing"]:
        lines += [f"int8 files that pass: {c['int8_passing']}; on average {100 * c['mean_share_kept_float']:.1f}% of a "
                  f"model's conv/linear layers kept float, {c['mean_speedup_vs_fp32']}x the fp32 file's speed "
                  "(same target, p50).", ""]
    lines += ["| model | px | format | prec | status | MB | parity (rel. mean) | p50 ms | kept float | reason |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for res in result["models"]:
        if res.get("error"):
            lines.append(f"| {res['model']} | {res['size']} | all | all | export-failed | - | - | - | - | {res['error']} |")
        for r in res["rows"]:
            par = r.get("parity") or {}
            rel = f"{par['rel_mean']:.1e}" if "rel_mean" in par else "-"
            kept = f"{r['kept_float']}/{res['layers']}" if "kept_float" in r else "-"
            reason = (r.get("reason") or "").replace("|", "/") if r["status"] not in OK else ""
            lines.append(f"| {res['model']} | {res['size']} | {r['format']} | {r['precision']} | {r['status']} | "
                         f"{r.get('size_mb', '-')} | {rel} | {r.get('p50_ms', '-')} | {kept} | {reason} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.zoo import MODELS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma list (default: every zoo model)")
    ap.add_argument("--targets", default="onnx,tflite,openvino,coreml")
    ap.add_argument("--precisions", default="fp32,fp16,int8")
    ap.add_argument("--size", type=int, help="input side for every model (default: each model's own)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bundles", type=Path, default=ROOT / "runs" / "zoo")
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder for zoo-<machine>.json/.md")
    ap.add_argument("--update", action="store_true", help="re-measure --models only, keeping the other models' rows "
                                                           "of this machine's results file (export again: delete "
                                                           "their bundles first)")
    args = ap.parse_args()
    names = args.models.split(",")
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SystemExit(f"unknown zoo model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    targets, precisions = args.targets.split(","), args.precisions.split(",")
    results = []
    d = device.describe()
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"zoo-{device.slug(d)}"
    command = "python benchmarks/zoo_bench.py " + " ".join(sys.argv[1:])
    earlier = json.loads(stem.with_suffix(".json").read_text()) if args.update and stem.with_suffix(".json").exists() else None
    if earlier:
        command = f"{earlier['command']}; then {command}"
    with Progress() as bar:
        task = bar.add_task("zoo", total=len(names))
        for name in names:
            bar.update(task, description=name)
            results.append(one_model(name, args.size or MODELS[name], args.targets, args.precisions, args.runs,
                                     args.bundles))
            bar.advance(task)
            # written after every model: a long run stopped part-way still leaves the table of what it measured
            models = results
            if earlier:  # this run's models in place of their earlier rows, the others kept, in zoo order
                got = {r["model"]: r for r in earlier["models"]} | {r["model"]: r for r in results}
                models = [got[n] for n in MODELS if n in got]
            result = {"device": d, "runs": args.runs, "command": command,
                      "totals": totals(models, targets, precisions), "int8_cost": int8_cost(models), "models": models}
            with atomic_path(stem.with_suffix(".json")) as tmp:
                tmp.write_text(json.dumps(result, indent=2) + "\n")
            with atomic_path(stem.with_suffix(".md")) as tmp:
                tmp.write_text(markdown(result))
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
