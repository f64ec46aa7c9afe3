"""Generator figures on held-out poses (camera 2 of Pose2Sim, never trained on), with fixed random appearances.

    python benchmarks/generator_eval.py [--data runs/posedata] [--samples 64] [--threads 1]

At 128 px: teacher and student; at 256 px: generator-student-256 (the student fine-tuned at twice the scale).
Params and MACs of teacher and student; PSNR and SSIM of each against the avatar renderer; student vs teacher PSNR;
pose consistency (BlazePose, the pose teacher, run on the drawn characters: OKS against the driving pose, the
renderer's own drawings as the ceiling); PSNR of every exported file against the fp32 PyTorch student, and its latency.
Writes benchmarks/results/generator-<cpu>-<cores>.json and .md.
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
from skimage.metrics import structural_similarity

import animetool_runtime as rt
from animetool.avatar_data import load_poses, pair
from animetool.models import create_model
from animetool.models.generator import macs
from animetool.pose_metrics import evaluate
from animetool.teachers import BlazePoseTeacher
from animetool_runtime import device
from animetool_runtime.manifest import size_bytes
from animetool_runtime.character import fit_pose

RESULTS = Path(__file__).parent / "results"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def rgb(x: np.ndarray) -> np.ndarray:
    """(4, H, W) RGBA in [0, 1] -> HxWx3 composited over white, what a viewer sees."""
    a = np.clip(x[3:4], 0, 1)
    return (np.clip(x[:3], 0, 1) * a + (1 - a)).transpose(1, 2, 0)


def pose_consistency(images: list[np.ndarray], canvases: list[np.ndarray], teacher) -> dict:
    """BlazePose on each drawing (upscaled 2x on a white margin) against the pose that drove it."""
    preds, gts = [], []
    for img, kps in zip(images, canvases):
        h = img.shape[0]
        big = np.ones((4 * h, 4 * h, 3), np.float32)
        big[h:3 * h, h:3 * h] = np.repeat(np.repeat(img, 2, 0), 2, 1)
        found = teacher((big * 255).astype(np.uint8))
        found[..., :2] = (found[..., :2] - h + 0.5) / 2 - 0.5
        preds.append(found)
        g = kps.copy()
        g[:, 2] = (g[:, 2] >= 0.3).astype(np.float32)
        gts.append(g[None])
    r = evaluate(gts, preds)
    return {"mean_oks": r["mean_oks"], "pck@0.2": r["pck@0.2"], "found": r["detections"], "of": r["people"]}


def evaluate_size(size: int, names: tuple[str, ...], student: str, poses: np.ndarray, samples: int, threads: int,
                  teacher) -> dict:
    """Every figure for the generators drawing at one size, on the same held-out poses and appearances."""
    rng = np.random.default_rng(1234)
    picks = rng.choice(len(poses), samples, replace=False)
    conds, targets, canvases = [], [], []
    for i in picks:
        c, t = pair(poses[i], rng, size)
        conds.append(c)
        targets.append(t)
        canvases.append(fit_pose(poses[i], size)[0])
    x = torch.from_numpy(np.stack(conds))
    nets = {n: create_model(n) for n in names}
    with torch.no_grad():
        outs = {n: m(x).numpy() for n, m in nets.items()}
    result = {"size": size, "models": {}}
    drawn = {"renderer": [rgb(t) for t in targets]}
    for n, m in nets.items():
        imgs = [rgb(o) for o in outs[n]]
        drawn[n] = imgs
        result["models"][n] = {
            "params": sum(p.numel() for p in m.parameters()), "gmacs": macs(m, (1, *x.shape[1:])) / 1e9,
            "psnr_vs_renderer": float(np.mean([psnr(a, b) for a, b in zip(imgs, drawn["renderer"])])),
            "ssim_vs_renderer": float(np.mean([structural_similarity(a, b, channel_axis=2, data_range=1.0)
                                               for a, b in zip(imgs, drawn["renderer"])]))}
    result["pose_consistency"] = {n: pose_consistency(imgs, canvases, teacher) for n, imgs in drawn.items()}
    if "generator-teacher" in nets:
        result["student_vs_teacher_psnr"] = float(np.mean([psnr(a, b) for a, b in zip(drawn[student], drawn["generator-teacher"])]))
        result["macs_ratio"] = result["models"]["generator-teacher"]["gmacs"] / result["models"][student]["gmacs"]
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "gen"
        subprocess.run([sys.executable, "-m", "animetool.cli", "export", student, "-t", "onnx,tflite,openvino",
                        "-p", "fp32,fp16,int8", "-o", str(bundle)], check=True)
        b = rt.load(bundle, threads=threads)
        result["exports"] = {}
        for e in b.manifest.models:
            m = b.open_entry(e)
            ys, ms = [], []
            for c in conds:
                t = time.perf_counter()
                ys.append(m.run(c[None], layout="NCHW")[0][0])
                ms.append((time.perf_counter() - t) * 1e3)
            result["exports"][f"{e.format} {e.precision}"] = {
                "psnr_vs_fp32_student": float(np.mean([psnr(np.clip(a, 0, 1), np.clip(o, 0, 1)) for a, o in zip(ys, outs[student])])),
                "p50_ms": float(np.percentile(ms, 50)), "mb": size_bytes(bundle / e.file) / 1e6}
    return result


def table(r: dict, samples: int, d: dict, threads: int) -> list[str]:
    m, size = r["models"], r["size"]
    student = [n for n in m if n != "generator-teacher"][-1]
    lines = [f"{samples} held-out poses (Pose2Sim camera 2), random appearances, {size}x{size}. Device: "
             f"{device.short(d)}, {threads} thread(s).", "",
             "| model | params | GMACs | PSNR vs renderer (dB) | SSIM vs renderer | pose OKS (BlazePose on the drawing) |",
             "|---|---|---|---|---|---|",
             f"| renderer (ceiling) | - | - | - | - | {r['pose_consistency']['renderer']['mean_oks']:.3f} |"]
    for n in m:
        lines.append(f"| {n} | {m[n]['params'] / 1e6:.2f} M | {m[n]['gmacs']:.3f} | {m[n]['psnr_vs_renderer']:.2f} | "
                     f"{m[n]['ssim_vs_renderer']:.3f} | {r['pose_consistency'][n]['mean_oks']:.3f} |")
    if "student_vs_teacher_psnr" in r:
        lines += ["", f"Student vs teacher: {r['student_vs_teacher_psnr']:.2f} dB; the student has "
                  f"{r['macs_ratio']:.1f}x fewer MACs."]
    lines += ["", f"| {student} export | PSNR vs its fp32 PyTorch model (dB) | p50 ms | MB |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['psnr_vs_fp32_student']:.1f} | {v['p50_ms']:.2f} | {v['mb']:.3f} |" for k, v in r["exports"].items()]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("runs/posedata"))
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    poses = load_poses(args.data, "heldout")
    teacher = BlazePoseTeacher("full", threads=args.threads)
    result = {"device": device.describe(), "samples": args.samples, "sizes": [
        evaluate_size(128, ("generator-teacher", "generator-student"), "generator-student", poses, args.samples, args.threads, teacher),
        evaluate_size(256, ("generator-student-256",), "generator-student-256", poses, args.samples, args.threads, teacher)]}
    d = result["device"]
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"generator-{device.slug(d)}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [line for r in result["sizes"] for line in table(r, args.samples, d, args.threads) + [""]]
    stem.with_suffix(".md").write_text("\n".join(lines).rstrip() + "\n")
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
