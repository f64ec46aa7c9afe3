"""End-to-end `animate` figures on real footage: FPS and peak RSS per backend x precision x threads, and keypoint jitter.

    python benchmarks/animate_bench.py [--bundle bundles/default] [--sizes 256,128] [--threads 1,2] [--precisions int8]

Every run is `python -m animetool_runtime animate CLIP -o OUT --json` in its own process (its own peak RSS), on
Pose2Sim's camera 2 (one person, 1080x1920 portrait, 60 fps, 100 frames, held out from training; also scaled to
720x1280 here with PyAV, a phone's usual recording size) and the Sports2D demo (two people, 1768x994, 30 fps, 230
frames, with audio). The first clip gets every backend x precision; the others int8. FPS is frames over the wall-clock time of the
whole loop: decode, pose, tracking, generator, composite, H.264 encode. Jitter: the pose model's raw per-frame keypoints
against the One Euro-smoothed tracks on the same clips (mean |acceleration| in pixels, and the mean smoothed-raw gap).
Writes benchmarks/results/animate-<cpu>-<cores>.json and .md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import animate_measures
from animetool.data.footage import fetch_footage
from animetool_runtime import device, load
from animetool_runtime.pose.estimator import PoseEstimator
from animetool_runtime.pose.track import Tracker, frame_people, jitter, whole
from animetool_runtime.video import Reader

RESULTS = Path(__file__).parent / "results"
CLIPS = {"one person, 720x1280 (Pose2Sim cam02 scaled)": ("pose2sim-single-cam02", (720, 1280)),
         "one person, 1080x1920 (Pose2Sim cam02)": ("pose2sim-single-cam02", None),
         "two people, 1768x994 (Sports2D demo)": ("sports2d-demo", None)}
PEOPLE = {"pose2sim-single-cam02": 1, "sports2d-demo": 2}  # who is in each clip, counted by eye
STAGES = ("decode", "pose", "generator", "composite", "encode")


def run(clip: Path, bundle: Path, backend: str, precision: str, threads: int, size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "animetool_runtime", "animate", str(clip), "-o", f"{tmp}/out.mp4", "--bundle",
               str(bundle), "--backend", backend, "--precision", precision, "--threads", str(threads), "--size",
               str(size), "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"status": f"failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"}
    r = json.loads(proc.stdout)
    return {"status": "ok", "frames": r["frames"], "fps": r["fps"], "peak_rss_mb": r["peak_rss_mb"],
            "people_max": r["people_max"], "models": r["models"], "ms_mean": r["ms_mean"]}


def scaled(src: Path, size: tuple[int, int], dst: Path) -> Path:
    """The clip resized (area filter) and re-encoded, every frame kept."""
    import av

    from animetool_runtime.video import Writer

    with av.open(str(src)) as c, Writer(dst, *size, c.streams.video[0].average_rate) as w:
        for frame in c.decode(video=0):
            w.write(frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray())
    return dst


def smoothing(clip: Path, bundle: Path, people: int) -> dict:
    """Raw vs smoothed keypoint jitter over every unbroken stretch of every track (tflite int8 pose model); the
    characters drawn: tracks per person, and the share drawn without a whole body (head and torso)."""
    estimator = PoseEstimator(load(bundle, "tflite", "int8", 2).model(task="pose"))
    reader = Reader(clip)
    tracker = Tracker(float(reader.fps))
    runs: dict[int, list[list]] = {}  # track id -> stretches of consecutive frames: [(frame, raw, smoothed), ...]
    drawn, broken = 0, 0
    for i, frame in enumerate(reader.frames()):
        for t in tracker.update(frame_people(estimator(frame)), i):
            drawn, broken = drawn + 1, broken + (not whole(t.pose))
            if t.last_seen != i:  # held or fading: no detection this frame
                continue
            stretches = runs.setdefault(t.id, [[]])
            if stretches[-1] and stretches[-1][-1][0] != i - 1:
                stretches.append([])
            stretches[-1].append((i, t.raw, t.keypoints))
    reader.close()
    pieces = [[np.stack(x) for x in list(zip(*run))[1:]] for st in runs.values() for run in st if len(run) >= 10]
    drawing = {"people": people, "tracks_drawn": len(runs), "characters_drawn": drawn,
               "broken_pct": round(100 * broken / max(drawn, 1), 2)}
    if not pieces:
        return {"tracks": 0, "frames": 0, "raw_jitter_px": None, "smoothed_jitter_px": None, "smoothed_gap_px": None,
                **drawing}
    w = np.array([len(raw) for raw, _ in pieces], float)
    avg = lambda xs: round(float(np.average(xs, weights=w)), 2)  # noqa: E731
    return {"tracks": len({k for k, st in runs.items() if any(len(r) >= 10 for r in st)}), "frames": int(w.sum()),
            "raw_jitter_px": avg([jitter(raw) for raw, _ in pieces]),
            "smoothed_jitter_px": avg([jitter(sm) for _, sm in pieces]),
            "smoothed_gap_px": avg([np.linalg.norm(sm[:, :, :2] - raw[:, :, :2], axis=-1).mean() for raw, sm in pieces]),
            **drawing}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=Path("bundles/default"))
    ap.add_argument("--sizes", default="256,128", help="generator sizes; every backend x precision runs at the first")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--backends", default="tflite,onnx,openvino")
    ap.add_argument("--precisions", default="fp32,fp16,int8", help="of the first clip; the others run int8")
    args = ap.parse_args()
    sizes, threads = [int(s) for s in args.sizes.split(",")], [int(t) for t in args.threads.split(",")]
    tmp = tempfile.TemporaryDirectory()
    clips = {label: scaled(fetch_footage([name])[name], size, Path(tmp.name) / f"{name}-{size[1]}.mp4") if size
             else fetch_footage([name])[name] for label, (name, size) in CLIPS.items()}
    result = {"device": device.describe(), "bundle": str(args.bundle), "rows": [], "smoothing": {}}
    first = next(iter(clips))
    for label, clip in clips.items():
        for backend in args.backends.split(","):
            for precision in (args.precisions.split(",") if label == first else ("int8",)):
                for size in (sizes if precision == "int8" else sizes[:1]):
                    for t in threads:
                        row = {"clip": label, "backend": backend, "precision": precision, "size": size, "threads": t,
                               **run(clip, args.bundle, backend, precision, t, size)}
                        print(json.dumps({k: row.get(k) for k in ("clip", "backend", "precision", "size", "threads",
                                                                    "status", "fps")}), file=sys.stderr)
                        result["rows"].append(row)
        result["smoothing"][label] = smoothing(clip, args.bundle, PEOPLE[CLIPS[label][0]])
    result["users_see"] = [{"clip": label, "size": sizes[0], **animate_measures.measure(
        clips[label], args.bundle, sizes[0], RESULTS / f"animate-contact-{CLIPS[label][0]}.png")}
        for label in ("two people, 1768x994 (Sports2D demo)", "one person, 1080x1920 (Pose2Sim cam02)")]
    d = result["device"]
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"animate-{device.slug(d)}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Device: {device.short(d)}, {d['os']}, Python {d['python']}; "
             + ", ".join(f"{k} {v}" for k, v in d["packages"].items()) + ".",
             "", "`python benchmarks/animate_bench.py` (bundle: `animetool export --target all --precision all`). "
             "FPS: frames / wall-clock seconds of the whole loop (decode, pose, tracking, generator, composite, "
             "H.264 encode); stages: mean ms per frame (decode and encode run in their own threads, overlapping).", "",
             "| clip | backend | precision | generator px | threads | status | FPS | peak RSS MB | "
             + " | ".join(f"{s} ms" for s in STAGES) + " |", "|" + "---|" * (8 + len(STAGES))]
    for r in result["rows"]:
        ms = r.get("ms_mean", {})
        lines.append(f"| {r['clip']} | {r['backend']} | {r['precision']} | {r['size']} | {r['threads']} | {r['status']} | "
                     f"{r.get('fps', '-')} | {r.get('peak_rss_mb', '-')} | " + " | ".join(str(ms.get(s, '-')) for s in STAGES) + " |")
    lines += ["", "Tracks and keypoint jitter (tflite int8 pose model; the whole clip). Characters: tracks drawn for the "
              "people in the clip, and the share of drawn characters without a whole body (both shoulders: torso and "
              "head); jitter: mean |x[t+1] - 2x[t] + x[t-1]| over tracked keypoints of detected frames:", "",
              "| clip | people | tracks drawn | characters drawn | broken % | tracks (>= 10 frames) | frames | raw jitter px | "
              "smoothed jitter px | mean smoothed-raw gap px |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, s in result["smoothing"].items():
        lines.append(f"| {label} | {s['people']} | {s['tracks_drawn']} | {s['characters_drawn']} | {s['broken_pct']} | "
                     f"{s['tracks']} | {s['frames']} | {s['raw_jitter_px']} | {s['smoothed_jitter_px']} | {s['smoothed_gap_px']} |")
    lines += ["", "What a viewer sees (`--background original`, tflite int8, generator at the first size; "
              "`benchmarks/animate_measures.py`): person pixels left visible (BlazePose full's segmentation of each "
              "person, pixels neither a character nor the fill covers), colour difference CIE76 between each person and "
              "their character (the same regions read on both). The removal mask's radii were chosen on the Sports2D "
              "demo; Pose2Sim is the check nobody tuned on.", "",
              "| clip | person pixels visible % | people measured | dE skin | dE hair | dE top | dE bottom | dE shoes | "
              "dE clothes (top, bottom) | contact sheet |", "|---|---|---|---|---|---|---|---|---|---|"]
    for u in result["users_see"]:
        lines.append(f"| {u['clip']} | {u['person_pixels_visible_pct']} | {u['people_measured']} | "
                     + " | ".join(str(u["colour_de"].get(c, "-")) for c in ("skin", "hair", "top", "bottom", "shoes"))
                     + f" | {u['colour_de_clothes']} | [{u['contact_sheet']}]({u['contact_sheet']}) |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
