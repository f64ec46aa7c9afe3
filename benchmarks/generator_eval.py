"""Generator figures on held-out poses (the test scene, Pose2Sim's multi-person lab, seen by camera 2: never trained
on; checkpoints are chosen on the val scene): half with random appearances, half wearing the colours read from the real
person in the frame.

    python benchmarks/generator_eval.py [--data runs/posedata] [--samples 64] [--threads 1]

At 128 px: generator-student; at 256 px: generator-student-256 (the default). generator-teacher is not measured: its
weights learnt conditioning layout 2 and the runtime builds layout 3 (its last figures are in git history).
What users see (drawing_measures.py), against the renderer's drawing of the same input, for every PyTorch model and
every exported int8 file: whole-drawing and head-region PSNR / SSIM, CIE76 colour difference of hair, skin, bottom and
top, silhouette IoU. Also params and MACs; pose consistency (BlazePose run on the drawings:
OKS against the driving pose, the renderer's own drawings as the ceiling); PSNR of every exported file against the
fp32 PyTorch student, and its latency. Writes benchmarks/results/generator-<cpu>-<cores>.json and .md, and the contact
sheets generator-contact-<size>.png (renderer | each PyTorch model | int8 TFLite; a row a sample). Look at them.
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
from animetool.data.avatar import random_appearance, render
from animetool.data.avatar_data import MIN_VISIBLE
from animetool.data.poses import load_split
from animetool.data.footage import CAMERA_2
from animetool.models import create_model
from animetool.models.generator import macs
from animetool.pose_metrics import evaluate
from animetool.data.teachers import BlazePoseTeacher
from animetool_runtime import device
from animetool_runtime.manifest import size_bytes
from animetool_runtime.character import VISIBLE, conditioning, extract_appearance, fit_pose
from drawing_measures import composite, contact_sheet, mean, measure, psnr, ssim

RESULTS = Path(__file__).parent / "results"
SHEET_ROWS = 8  # contact sheet: 4 random appearances and 4 read from real people, alternating


def heldout_people(data: Path, split: str = "test") -> list[tuple[np.ndarray, Path]]:
    """Every person of a split seen by camera 2 (never in the generator's poses, which come from the train split, nor
    in the int8 calibration's, which skips camera 2) with enough keypoints, with the frame they were seen in (to read
    real appearances). test: the test scene; val (camera 2 of the single-person lab): where checkpoints are chosen."""
    return [(p, frame) for _, frame, people in load_split(data, split, CAMERA_2) for p in people
            if (p[:, 2] >= VISIBLE).sum() >= MIN_VISIBLE]


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


def samples_at(size: int, people: list[tuple[np.ndarray, Path]], samples: int):
    """Half the samples with random appearances, half wearing the colours read from the real person in the frame."""
    rng = np.random.default_rng(1234)
    picks = rng.choice(len(people), samples, replace=False)
    conds, targets, canvases, looks = [], [], [], []
    for k, i in enumerate(picks):
        kps, frame = people[i]
        look = random_appearance(rng) if k % 2 == 0 else extract_appearance(np.asarray(Image.open(frame).convert("RGB")), kps)
        canvas = fit_pose(kps, size)[0]
        rgb, alpha = render(canvas, look, size)
        conds.append(conditioning(canvas, look, size))
        targets.append(np.concatenate([rgb.transpose(2, 0, 1) / np.float32(255), alpha[None]], 0).astype(np.float32))
        canvases.append(canvas)
        looks.append(look)
    return np.stack(conds), targets, canvases, looks


def users_see(outs, targets, canvases, looks) -> dict:
    """The drawing measures, averaged over random and over real-person appearances separately."""
    per = [measure(o, t, c, lk) for o, t, c, lk in zip(outs, targets, canvases, looks)]
    return {"random": mean(per[0::2]), "real": mean(per[1::2])}


def evaluate_size(size: int, student: str, people, samples: int, threads: int,
                  teacher) -> dict:
    """Every figure for the generators drawing at one size, on the same held-out poses and appearances."""
    conds, targets, canvases, looks = samples_at(size, people, samples)
    x = torch.from_numpy(conds)
    nets = {student: create_model(student)}
    with torch.no_grad():
        outs = {n: m(x).numpy() for n, m in nets.items()}
    result = {"size": size, "models": {}, "users_see": {}}
    drawn = {"renderer": [composite(t) for t in targets]}
    for n, m in nets.items():
        imgs = [composite(o) for o in outs[n]]
        drawn[n] = imgs
        result["models"][n] = {
            "params": sum(p.numel() for p in m.parameters()), "gmacs": macs(m, (1, *x.shape[1:])) / 1e9,
            "psnr_vs_renderer": float(np.mean([psnr(a, b) for a, b in zip(imgs, drawn["renderer"])])),
            "ssim_vs_renderer": float(np.mean([ssim(a, b) for a, b in zip(imgs, drawn["renderer"])]))}
        result["users_see"][f"{n} fp32 (PyTorch)"] = users_see(outs[n], targets, canvases, looks)
    result["pose_consistency"] = {n: pose_consistency(imgs, canvases, teacher) for n, imgs in drawn.items()}
    sheet = {"renderer": targets[:SHEET_ROWS], **{f"{n} fp32": list(outs[n][:SHEET_ROWS]) for n in nets}}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "gen"
        subprocess.run([sys.executable, "-m", "animetool.cli", "export", student, "-t", "onnx,tflite,openvino",
                        "-p", "fp32,fp16,int8", "-o", str(bundle)], check=True, stdout=subprocess.DEVNULL)
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
            if e.precision == "int8":
                result["users_see"][f"{student} int8 ({e.format})"] = users_see(ys, targets, canvases, looks)
                if e.format == "tflite":
                    sheet[f"{student} int8 tflite"] = ys[:SHEET_ROWS]
    contact_sheet(sheet, RESULTS / f"generator-contact-{size}.png")
    return result


def table(r: dict, samples: int, d: dict, threads: int) -> list[str]:
    m, size = r["models"], r["size"]
    student = list(m)[-1]
    lines = [f"{samples} held-out poses (the test scene, Pose2Sim multi-person camera 2), half random appearances, half real people's, {size}x{size}. Device: "
             f"{device.short(d)}, {threads} thread(s).", "",
             "| model | params | GMACs | PSNR vs renderer (dB) | SSIM vs renderer | pose OKS (BlazePose on the drawing) |",
             "|---|---|---|---|---|---|",
             f"| renderer (ceiling) | - | - | - | - | {r['pose_consistency']['renderer']['mean_oks']:.3f} |"]
    for n in m:
        lines.append(f"| {n} | {m[n]['params'] / 1e6:.2f} M | {m[n]['gmacs']:.3f} | {m[n]['psnr_vs_renderer']:.2f} | "
                     f"{m[n]['ssim_vs_renderer']:.3f} | {r['pose_consistency'][n]['mean_oks']:.3f} |")
    lines += ["", f"What users see at {size} px, against the renderer (goals: whole >= 28 dB / 0.96, head >= 24 dB / 0.85, "
              "colour dE hair <= 6, skin, bottom, top <= 4, IoU >= 0.96; contact sheet: "
              f"[generator-contact-{size}.png](generator-contact-{size}.png)):", "",
              "| drawn by | appearances | PSNR dB | SSIM | head PSNR dB | head SSIM | dE hair | dE skin | dE bottom | dE top | IoU |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, kinds in r["users_see"].items():
        for kind, f in kinds.items():
            cells = [f.get(k) for k in ("psnr", "ssim", "head_psnr", "head_ssim", "de_hair", "de_skin", "de_bottom", "de_top", "iou")]
            lines.append(f"| {name} | {kind} | " + " | ".join("-" if v is None else f"{v:.3g}" for v in cells) + " |")
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
    people = heldout_people(args.data)
    teacher = BlazePoseTeacher("full", threads=args.threads)
    result = {"device": device.describe(), "samples": args.samples, "sizes": [
        evaluate_size(128, "generator-student", people, args.samples, args.threads, teacher),
        evaluate_size(256, "generator-student-256", people, args.samples, args.threads, teacher)]}
    d = result["device"]
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"generator-{device.slug(d)}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [line for r in result["sizes"] for line in table(r, args.samples, d, args.threads) + [""]]
    stem.with_suffix(".md").write_text("\n".join(lines).rstrip() + "\n")
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
