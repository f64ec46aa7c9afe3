"""Pose student vs BlazePose heavy on footage it never trained on, beside BlazePose lite and full as peers.

    python benchmarks/pose_eval.py [--data runs/posedata-heavy] [--model pose-student-s] [--reference blazepose-heavy]
                                   [--threads 1] [--sizes 160,192,224,256]

Splits (toolchain/data/footage.py SPLITS): the input size is chosen on the val split, a camera of a lab scene the student
trained on from other cameras (the int8 TFLite student at each size of --sizes, best mean OKS; --size overrides the
choice and the report says so), then every row is measured once on the test split (a scene never trained on: Pose2Sim's multi-person lab, all four cameras). Reference
labels: --reference (BlazePose heavy by default, not the training teacher) on the same frames, cached beside --data.
Figures: COCO keypoint AP, mean OKS (all people, single-person frames, multi-person frames), PCK@0.2, mirror rate,
edge miss rate, overlap recall (toolchain/pose_metrics.py) for the student in PyTorch and each exported target x
precision, and for BlazePose lite and full in their own two-stage pipeline. Latency: whole frame (pre-processing,
model(s), decoding) per frame, all in the same runtime process and thread count. MoveNet is not a row: its only
registry copy is a TF.js graph, which nothing here runs without TensorFlow.
Everyday photos (the photos split: a street, a close-up, seated groups) are scored the same way, and the photos
without people (the empty split: animals, a cartoon, buildings, fruit) count the people each model reports.
Writes benchmarks/results/pose-<cpu>-<cores>.json and .md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import animetool_runtime as rt
from animetool.data.poses import DEFAULT_SOURCES, build, load_split, read_index
from animetool.data.footage import SPLITS
from animetool.pose_metrics import evaluate
from animetool.export.sources import resolve
from animetool.data.teachers import BlazePoseTeacher
from animetool_runtime import device
from animetool_runtime.manifest import size_bytes
from animetool_runtime.pose.estimator import PoseEstimator

RESULTS = Path(__file__).parent / "results"
MODEL = "pose-student-s"


class TorchModel:
    """The PyTorch student behind the runtime's Model interface, so PoseEstimator decodes it exactly like the files."""

    def __init__(self, entry: rt.ModelEntry, module: torch.nn.Module):
        self.entry, self.module = entry, module.eval()

    def run(self, x: np.ndarray, layout: str = "NCHW") -> list[np.ndarray]:
        assert layout == "NCHW"  # torch's own layout; PoseEstimator asks for it
        with torch.no_grad():
            return [y.numpy() for y in self.module(torch.from_numpy(x))]


def timed(fn, frames: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
    preds, ms = [], []
    fn(frames[0])  # warm-up: the first call allocates
    for f in frames:
        t = time.perf_counter()
        preds.append(fn(f))
        ms.append((time.perf_counter() - t) * 1e3)
    return preds, ms


def export(model: str, bundle: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "animetool.cli", "export", model, *args, "-o", str(bundle)], check=True,
                   timeout=1800)


class Split:
    """A split's frames and the reference's people on them (labelled once, cached in a folder beside the data)."""

    def __init__(self, data: Path, reference: str, split: str):
        same = read_index(data).get("teacher", {}).get("teacher") == reference  # the data's own labels will do
        folder = data if same else data.with_name(f"{data.name}-{reference}")
        names = [n for n, s in SPLITS.items() if s == split]
        build(names, reference, folder)
        rows = load_split(folder, split, tuple(names))
        self.items = sorted({n for n, _, _ in rows})
        self.frames = [np.asarray(Image.open(p).convert("RGB")) for _, p, _ in rows]
        self.gt = [people for _, _, people in rows]
        self.sizes = [(f.shape[1], f.shape[0]) for f in self.frames]


def trained_on(spec: str) -> list[str]:
    """The data items a model's weights were trained on (their metadata's "data"), to flag a test it has seen; none
    known for a model without animetool weights (module:factory)."""
    from safetensors import safe_open

    from animetool.models import REGISTRY

    path = Path(spec) if spec.endswith(".safetensors") else REGISTRY[spec].weights_path if spec in REGISTRY else None
    if path is None:
        return []
    with safe_open(str(path), "pt") as f:
        return sorted(json.loads((f.metadata() or {}).get("data", "{}")))


def measure(fn, split: Split) -> dict:
    preds, ms = timed(fn, split.frames)
    return {**evaluate(split.gt, preds, split.sizes), "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90))}


HEADER = ["| model | AP (OKS) | mean OKS | single / multi | PCK@0.2 | mirrored | edge missed | overlap found "
          "| found / labelled | frame p50 ms | frame p90 ms |", "|---|---|---|---|---|---|---|---|---|---|---|"]


def row(name: str, r: dict) -> str:
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    return (f"| {name} | {r['ap']:.3f} | {r['mean_oks']:.3f} | {f(r['single_mean_oks'])} / {f(r['multi_mean_oks'])} "
            f"| {r['pck@0.2']:.3f} | {pct(r['mirror_rate'])} | {pct(r['edge_miss_rate'])} of {r['at_edge']} "
            f"| {pct(r['overlap_recall'])} of {r['overlapping']} | {r['detections']} / {r['people']} "
            f"| {r['p50_ms']:.1f} | {r['p90_ms']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("runs/posedata-heavy"), help="data folder (made with the "
                    "reference as teacher when missing)")
    ap.add_argument("--model", default=MODEL, help="registered pose model or a .safetensors checkpoint")
    ap.add_argument("--reference", default="blazepose-heavy", help="the labels' teacher (blazepose-heavy, -full, -lite)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", default="160,192,224,256", help="input sizes chosen among on val (int8 TFLite)")
    ap.add_argument("--tag", help="results file name suffix, for a model that is not the default (pose-<cpu>-<tag>.md)")
    ap.add_argument("--size", type=int, help="measure the test split at this input size instead of val's choice "
                    "(e.g. the size a default model was registered with)")
    args = ap.parse_args()
    sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    if not (args.data / "index.json").exists():
        build(DEFAULT_SOURCES, args.reference, args.data)
    src = resolve(args.model)
    val, test, photos, empty = (Split(args.data, args.reference, s) for s in ("val", "test", "photos", "empty"))
    with tempfile.TemporaryDirectory() as tmp:
        sweep = {}
        for size in sizes or [src.input_shape[-1]]:
            export(args.model, Path(tmp) / f"s{size}", "-t", "tflite", "-p", "int8", "--imgsz", str(size))
            sb = rt.load(Path(tmp) / f"s{size}", threads=args.threads)
            sweep[size] = measure(PoseEstimator(sb.model(task="pose")), val)
            print(f"val: int8 TFLite at {size} px", sweep[size], file=sys.stderr)
        best = max(sweep, key=lambda k: sweep[k]["mean_oks"])
        chosen = args.size or best
        bundle = Path(tmp) / "pose"
        export(args.model, bundle, "-t", "onnx,tflite,openvino", "-p", "fp32,int8", "--imgsz", str(chosen))
        b = rt.load(bundle, threads=args.threads)
        fp32 = next(e for e in b.manifest.models if e.format == "onnx" and e.precision == "fp32")
        runs: dict[str, PoseEstimator | BlazePoseTeacher] = {"student PyTorch fp32": PoseEstimator(TorchModel(fp32, src.module))}
        for e in b.manifest.models:
            runs[f"student {e.format} {e.precision}"] = PoseEstimator(b.open_entry(e))
        runs["BlazePose lite (peer)"] = BlazePoseTeacher("lite", threads=args.threads)
        runs["BlazePose full (peer)"] = BlazePoseTeacher("full", threads=args.threads)
        table, photo_table = {}, {}
        for name, fn in runs.items():
            table[name] = measure(fn, test)
            print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in table[name].items()}, file=sys.stderr)
            photo_table[name] = {**evaluate(photos.gt, [fn(f) for f in photos.frames], photos.sizes),
                                 "on_empty": [len(fn(f)) for f in empty.frames]}
        file_bytes = {f"{e.format} {e.precision}": size_bytes(bundle / e.file) for e in b.manifest.models}
    d = device.describe()
    params = sum(p.numel() for p in src.module.parameters())
    result = {"device": d, "threads": args.threads, "model": args.model, "reference": args.reference,
              "val": val.items, "test": test.items, "val_frames": len(val.frames), "test_frames": len(test.frames),
              "photos": photos.items, "empty": empty.items, "photo_results": photo_table,
              "student_params": params, "input_size": chosen, "val_best_size": best, "results": table,
              "size_sweep_val": {str(k): v for k, v in sweep.items()}, "file_bytes": file_bytes}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"pose-{device.slug(d)}{'-' + args.tag if args.tag else ''}"
    people = sum(len(g) for g in test.gt)
    seen = [n for n in trained_on(args.model) if n in test.items]
    result["test_items_trained_on"] = seen
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    scene = (f"NOT held out for this model, which trained on {', '.join(seen)} (the same scene, other cameras)" if seen
             else "a scene never trained on")
    lines = [f"Test split, {scene}: {', '.join(test.items)} ({len(test.frames)} frames, {people} people "
             f"labelled by {args.reference}). Student: {args.model}, {params / 1e6:.2f} M parameters, {chosen} px input "
             f"({'chosen on val' if chosen == best else f'given with --size; val prefers {best} px'}). "
             f"Device: {device.short(d)}, {args.threads} thread(s).", "",
             "mirrored: matched people whose left/right-swapped prediction scores higher; edge missed: people within "
             "3% of the frame's edge not found (OKS < 0.5); overlap found: people whose box overlaps another's (IoU > 0.1), "
             "found.", "", *HEADER]
    lines += [row(name, r) for name, r in table.items()]
    lines += ["", f"Everyday photos ({', '.join(photos.items)}: {sum(len(g) for g in photos.gt)} people labelled by "
              f"{args.reference}) and photos without people ({', '.join(empty.items)}; {args.reference} reports "
              f"{sum(len(g) for g in empty.gt)}):", "",
              "| model | AP (OKS) | mean OKS | PCK@0.2 | found / labelled | people reported on the photos without people |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['ap']:.3f} | {r['mean_oks']:.3f} | {r['pck@0.2']:.3f} | {r['detections']} / {r['people']} "
              f"| {sum(r['on_empty'])} |" for name, r in photo_table.items()]
    lines += ["", f"Input size chosen on the val split ({', '.join(val.items)}, {len(val.frames)} frames; "
              "`animetool export --imgsz`), student int8 TFLite:", "", *HEADER]
    lines += [row(f"{size} px", r) for size, r in sweep.items()]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
