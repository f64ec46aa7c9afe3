"""Pose student vs the teacher (BlazePose full) on the held-out footage, beside BlazePose-lite as the peer.

    python benchmarks/pose_eval.py [--data runs/posedata] [--threads 1] [--bundle B]

Agreement with the teacher: COCO keypoint AP, mean OKS and PCK@0.2 (pycocotools), for the student in PyTorch, for each
exported int8 target, and for BlazePose-lite. Latency: whole frame (pre-processing, model(s), decoding) per held-out
frame, student int8 TFLite vs BlazePose-lite, both in LiteRT with the same thread count.
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

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            return [y.numpy() for y in self.module(torch.from_numpy(x))]


def timed(fn, frames: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
    preds, ms = [], []
    for f in frames:
        t = time.perf_counter()
        preds.append(fn(f))
        ms.append((time.perf_counter() - t) * 1e3)
    return preds, ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("runs/posedata"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bundle", type=Path, help="an exported bundle with the student (default: export one now)")
    args = ap.parse_args()
    if not (args.data / "index.json").exists():
        build(DEFAULT_SOURCES, "blazepose", args.data)
    rows = load_split(args.data, "heldout")
    frames = [np.asarray(Image.open(p).convert("RGB")) for _, p, _ in rows]
    gt = [people for _, _, people in rows]
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or Path(tmp) / "pose"
        if not args.bundle:
            subprocess.run([sys.executable, "-m", "animetool.cli", "export", MODEL, "-t", "onnx,tflite,openvino",
                            "-p", "fp32,int8", "-o", str(bundle)], check=True)
        b = rt.load(bundle, threads=args.threads)
        fp32 = next(e for e in b.manifest.models if e.format == "onnx" and e.precision == "fp32")
        runs: dict[str, PoseEstimator | BlazePoseTeacher] = {"student PyTorch fp32": PoseEstimator(TorchModel(fp32))}
        for e in b.manifest.models:
            runs[f"student {e.format} {e.precision}"] = PoseEstimator(b.open_entry(e))
        runs["BlazePose-lite (peer)"] = BlazePoseTeacher("lite", threads=args.threads)
        table = {}
        for name, fn in runs.items():
            preds, ms = timed(fn, frames)
            table[name] = {**evaluate(gt, preds), "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90))}
            print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in table[name].items()}, file=sys.stderr)
        sizes = {f"{e.format} {e.precision}": size_bytes(bundle / e.file) for e in b.manifest.models}
    d = device.describe()
    params = sum(p.numel() for p in create_model(MODEL).parameters())
    result = {"device": d, "threads": args.threads, "held_out": sorted({n for n, _, _ in rows}), "frames": len(frames),
              "teacher": "blazepose-full", "student": MODEL, "student_params": params, "results": table, "file_bytes": sizes}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"pose-{device.slug(d)}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Held-out footage: {', '.join(result['held_out'])} ({len(frames)} frames, {sum(len(g) for g in gt)} people "
             f"labelled by BlazePose full). Device: {d['cpu']}, {d['cores']} cores, {args.threads} thread(s). "
             f"Student: {MODEL}, {params / 1e6:.2f} M parameters.", "",
             "| model | AP (OKS) | mean OKS | PCK@0.2 | people found / labelled | frame p50 ms | frame p90 ms |",
             "|---|---|---|---|---|---|---|"]
    for name, r in table.items():
        lines.append(f"| {name} | {r['ap']:.3f} | {r['mean_oks']:.3f} | {r['pck@0.2']:.3f} | {r['detections']} / {r['people']} "
                     f"| {r['p50_ms']:.1f} | {r['p90_ms']:.1f} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
