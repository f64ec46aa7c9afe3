"""Pose student vs the teacher (BlazePose full) on the held-out footage, beside BlazePose-lite as the peer.

    python benchmarks/pose_eval.py [--data runs/posedata] [--threads 1] [--bundle B] [--sizes 160,192,224,256]

Agreement with the teacher: COCO keypoint AP, mean OKS and PCK@0.2 (pycocotools), for the student in PyTorch, for each
exported int8 target, and for BlazePose-lite. Latency: whole frame (pre-processing, model(s), decoding) per held-out
frame, student int8 TFLite vs BlazePose-lite, both in LiteRT with the same thread count. Then the same for the int8
TFLite student exported at each input size of --sizes (`animetool export --imgsz`): the accuracy/latency trade-off.
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
from animetool.data import DEFAULT_SOURCES, build, load_split
from animetool.models import create_model
from animetool.pose_metrics import evaluate
from animetool.teachers import BlazePoseTeacher
from animetool_runtime import device
from animetool_runtime.manifest import size_bytes
from animetool_runtime.pose.estimator import PoseEstimator

RESULTS = Path(__file__).parent / "results"
MODEL = "pose-student-s"


class TorchModel:
    """The PyTorch student behind the runtime's Model interface, so PoseEstimator decodes it exactly like the files."""

    def __init__(self, entry: rt.ModelEntry):
        self.entry, self.module = entry, create_model(MODEL)

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


def export(bundle: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "animetool.cli", "export", MODEL, *args, "-o", str(bundle)], check=True,
                   timeout=1800)


def measure(fn, frames: list[np.ndarray], gt: list[np.ndarray]) -> dict:
    preds, ms = timed(fn, frames)
    return {**evaluate(gt, preds), "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90))}


def row(name: str, r: dict) -> str:
    return (f"| {name} | {r['ap']:.3f} | {r['mean_oks']:.3f} | {r['pck@0.2']:.3f} | {r['detections']} / {r['people']} "
            f"| {r['p50_ms']:.1f} | {r['p90_ms']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("runs/posedata"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bundle", type=Path, help="an exported bundle with the student (default: export one now)")
    ap.add_argument("--sizes", default="160,192,224,256", help="input sizes for the int8 TFLite sweep ('' for none)")
    args = ap.parse_args()
    sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    if not (args.data / "index.json").exists():
        build(DEFAULT_SOURCES, "blazepose", args.data)
    rows = load_split(args.data, "heldout")
    frames = [np.asarray(Image.open(p).convert("RGB")) for _, p, _ in rows]
    gt = [people for _, _, people in rows]
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or Path(tmp) / "pose"
        if not args.bundle:
            export(bundle, "-t", "onnx,tflite,openvino", "-p", "fp32,int8")
        b = rt.load(bundle, threads=args.threads)
        fp32 = next(e for e in b.manifest.models if e.format == "onnx" and e.precision == "fp32")
        runs: dict[str, PoseEstimator | BlazePoseTeacher] = {"student PyTorch fp32": PoseEstimator(TorchModel(fp32))}
        for e in b.manifest.models:
            runs[f"student {e.format} {e.precision}"] = PoseEstimator(b.open_entry(e))
        runs["BlazePose-lite (peer)"] = BlazePoseTeacher("lite", threads=args.threads)
        table, sweep = {}, {}
        for name, fn in runs.items():
            table[name] = measure(fn, frames, gt)
            print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in table[name].items()}, file=sys.stderr)
        file_bytes = {f"{e.format} {e.precision}": size_bytes(bundle / e.file) for e in b.manifest.models}
        input_size = b.manifest.models[0].preprocess["size"][0]
        for size in sizes:
            export(Path(tmp) / f"s{size}", "-t", "tflite", "-p", "int8", "--imgsz", str(size))
            sb = rt.load(Path(tmp) / f"s{size}", threads=args.threads)
            sweep[size] = measure(PoseEstimator(sb.model(task="pose")), frames, gt)
            print(f"int8 TFLite at {size} px", sweep[size], file=sys.stderr)
    d = device.describe()
    params = sum(p.numel() for p in create_model(MODEL).parameters())
    result = {"device": d, "threads": args.threads, "held_out": sorted({n for n, _, _ in rows}), "frames": len(frames),
              "teacher": "blazepose-full", "student": MODEL, "student_params": params, "input_size": input_size,
              "results": table, "size_sweep": {str(k): v for k, v in sweep.items()}, "file_bytes": file_bytes}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"pose-{device.slug(d)}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Held-out footage: {', '.join(result['held_out'])} ({len(frames)} frames, {sum(len(g) for g in gt)} people "
             f"labelled by BlazePose full). Device: {device.short(d)}, {args.threads} thread(s). "
             f"Student: {MODEL}, {params / 1e6:.2f} M parameters, {input_size} px input.", "",
             "| model | AP (OKS) | mean OKS | PCK@0.2 | people found / labelled | frame p50 ms | frame p90 ms |",
             "|---|---|---|---|---|---|---|"]
    lines += [row(name, r) for name, r in table.items()]
    if sweep:
        lines += ["", "Input size (`animetool export --imgsz`), student int8 TFLite, same frames, runtime and threads:", "",
                  "| input | AP (OKS) | mean OKS | PCK@0.2 | people found / labelled | frame p50 ms | frame p90 ms |",
                  "|---|---|---|---|---|---|---|"]
        lines += [row(f"{size} px", r) for size, r in sweep.items()]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
