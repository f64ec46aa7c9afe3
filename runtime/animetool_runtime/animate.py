"""Real video in, anime video out: pose -> tracks -> one drawing per person -> composite -> H.264, one frame at a time.

Everything here is numpy plus the bundle's backend plus PyAV; the phone app runs the same steps.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import device
from .bundle import Bundle, load
from .blocks import Conditioning
from .commands import BACKGROUNDS
from .character import appearance_from_vector, appearance_vector, conditioning, extract_appearance, fit_pose, paints
from .image import resize_bilinear, shrink, taps
from .manifest import BundleError, ModelEntry
from .plate import Plate
from .pose.estimator import PoseEstimator
from .pose.track import CONFIRM, Tracker, box, frame_people
from .video import IMAGE_SUFFIXES, Reader, VideoError, Writer

PLAIN = np.array([236, 239, 243], np.uint8)  # a light grey page
STAGES = ("decode", "pose", "generator", "composite", "encode")
QUEUE = 4  # frames decoded ahead / waiting for the encoder
APPEARANCE_EVERY, APPEARANCE_KEEP = 15, 0.8  # refresh a track's colours every 15 frames, keeping 80% of the old


def generator_entry(bundle: Bundle, size: Optional[int]) -> ModelEntry:
    """The bundle's pose-conditioned generator drawing at size px (any size when None), for the chosen backend."""
    gens = [e for e in bundle.manifest.models if e.task == "generator" and e.preprocess.kind == "conditioning"]
    if not gens:
        raise BundleError(f"{bundle.root}: bundle has no pose-conditioned generator (it has {', '.join(bundle.names)})")
    why = {e.key: paints(e.preprocess.conditioning or Conditioning()) for e in gens}
    if all(why.values()):
        raise BundleError(f"{bundle.root}: {gens[0].name}: {why[gens[0].key]}")
    gens = [e for e in gens if not why[e.key]]
    sizes = sorted({e.preprocess.size[0] for e in gens})
    if size is not None and size not in sizes:
        raise BundleError(f"{bundle.root}: no generator drawing at {size} px in the bundle "
                          f"(it has {', '.join(map(str, sizes))}); export one, e.g. generator-student-256")
    want = size if size is not None else sizes[-1]
    return bundle.entry(name=next(e.name for e in gens if e.preprocess.size[0] == want))


@dataclass
class Animator:
    """The per-frame work, with its state (tracks); call it on consecutive RGB frames of one video."""

    bundle: Bundle
    fps: float
    max_people: int = 4
    background: str = "original"
    size: Optional[int] = None
    confirm: int = CONFIRM  # frames a new person is seen before drawn (1 for a single picture)
    tracker: Tracker = field(init=False)

    def __post_init__(self):
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
        self.pose = PoseEstimator(self.bundle.model(task="pose"))
        entry = generator_entry(self.bundle, self.size)
        self.generator = self.bundle.model(name=entry.name)
        self.size, self.fill = entry.preprocess.size[0], entry.preprocess.fill
        self.layout = entry.preprocess.conditioning
        self.tracker = Tracker(self.fps, confirm=self.confirm)
        self.plate = Plate()
        self.index = 0

    def draw(self, kps: np.ndarray, appearance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One character: (size x size x 4 RGBA drawing in [0, 1], its 2x3 canvas -> frame matrix)."""
        canvas, matrix = fit_pose(kps, self.size, self.fill)
        cond, inside = conditioning(canvas, appearance_from_vector(appearance), self.size, with_box=True, block=self.layout)
        return self.generator.run(cond[None], layout="NCHW", box=inside)[0][0].transpose(1, 2, 0), matrix

    def backdrop(self, rgb: np.ndarray) -> np.ndarray:
        """The uint8 picture the characters are drawn on, for "blur" and "plain"."""
        h, w = rgb.shape[:2]
        if self.background == "blur":
            small = shrink(rgb, max(1, h // 24), max(1, w // 24))
            blurred = resize_bilinear(resize_bilinear(small, max(1, h // 24), max(1, w // 24)), h, w)
            return np.clip(blurred + 0.5, 0, 255).astype(np.uint8)
        return np.broadcast_to(PLAIN, (h, w, 3)).copy()

    def __call__(self, rgb: np.ndarray) -> tuple[list, list, dict]:
        """One frame -> (its drawings and the people to remove, for compose(); {stage: ms, people: count, tracks:
        [{id, box (x0, y0, x1, y1)}]})."""
        times: dict = {}
        t = time.perf_counter()
        people = frame_people(self.pose(rgb), self.max_people)
        tracks = self.tracker.update(people, self.index)
        if len(tracks) > self.max_people:  # those seen in this frame first, then held ones
            tracks = sorted(sorted(tracks, key=lambda t: (t.last_seen != self.index, t.id))[:self.max_people], key=lambda t: t.id)
        times["pose"] = _ms(t)
        t = time.perf_counter()
        drawings, boxes = [], [box(tr.pose) for tr in tracks]
        for tr, b in zip(tracks, boxes):
            seen = tr.last_seen == self.index  # a held character keeps the colours read while the person showed
            if tr.appearance is None or (seen and (self.index - tr.id) % APPEARANCE_EVERY == 0):
                new = appearance_vector(extract_appearance(rgb, tr.raw))
                tr.appearance = new if tr.appearance is None else APPEARANCE_KEEP * tr.appearance + (1 - APPEARANCE_KEEP) * new
            rgba, matrix = self.draw(tr.pose, tr.appearance)
            if tr.opacity < 1:  # fading out: the person has not shown a whole body for a few frames
                rgba = rgba * np.array([1, 1, 1, tr.opacity], np.float32)
            drawings.append((float(b[3]), rgba, matrix))
        times["generator"] = _ms(t)
        remove = list(people) + [tr.pose for tr in tracks if tr.last_seen != self.index]  # held ones may still be there
        self.index += 1
        return drawings, remove, {**times, "people": len(tracks),
                          "tracks": [{"id": tr.id, "box": [round(float(v), 1) for v in b]} for tr, b in zip(tracks, boxes)]}

    def compose(self, rgb: np.ndarray, drawings: list, remove: list) -> np.ndarray:
        """The output frame: the drawings over the background ("original": the frame with the people in remove taken
        out), nearer people (lower feet) in front. Call on consecutive frames (the clean plate learns). May reuse rgb."""
        out = self.plate(rgb, remove) if self.background == "original" else self.backdrop(rgb)
        for _, rgba, matrix in sorted(drawings, key=lambda d: d[0]):
            composite(out, rgba, matrix)
        return np.concatenate([rgb, out], axis=1) if self.background == "side-by-side" else out


def composite(frame: np.ndarray, rgba: np.ndarray, matrix: np.ndarray) -> None:
    """Alpha-blend a drawing (SxSx4 in [0, 1]) onto a uint8 frame in place, placed by its canvas -> frame matrix.

    The matrix only scales and shifts, so bilinear sampling is separable: alpha is sampled over the drawing's box, the
    colours only where alpha is not zero (a person covers about half their box, a big one a million pixels).
    """
    ys, xs = np.nonzero(rgba[..., 3] > 1 / 255)
    if not len(ys):
        return
    s, tx, ty = float(matrix[0, 0]), float(matrix[0, 2]), float(matrix[1, 2])
    h, w = frame.shape[:2]
    # the drawn part's box in frame pixels (one canvas pixel of margin for the bilinear edge), clipped to the frame
    x0, x1 = max(0, int(np.floor((xs.min() - 1) * s + tx))), min(w, int(np.ceil((xs.max() + 1) * s + tx)) + 1)
    y0, y1 = max(0, int(np.floor((ys.min() - 1) * s + ty))), min(h, int(np.ceil((ys.max() + 1) * s + ty)) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    size = rgba.shape[0]
    cx0, cx1, wx0, wx1 = taps((np.arange(x0, x1, dtype=np.float32) - tx) / s, size)
    cy0, cy1, wy0, wy1 = taps((np.arange(y0, y1, dtype=np.float32) - ty) / s, size)
    rows = rgba[cy0] * wy0[:, :, None] + rgba[cy1] * wy1[:, :, None]  # (y1 - y0, size, 4): every row, canvas columns
    alpha = rows[:, cx0, 3] * wx0[:, 0] + rows[:, cx1, 3] * wx1[:, 0]
    iy, ix = np.nonzero(alpha > 1 / 255)
    colour = rows[iy, cx0[ix], :3] * wx0[ix] + rows[iy, cx1[ix], :3] * wx1[ix]
    a = np.clip(alpha[iy, ix], 0, 1)[:, None]
    region = frame[y0:y1, x0:x1]
    under = region[iy, ix].astype(np.float32)
    region[iy, ix] = (under + a * (np.clip(colour, 0, 1) * 255 - under) + 0.5).astype(np.uint8)


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 3)


def animate(src: str | Path, out: str | Path, bundle: str | Path, backend: Optional[str] = None,
            precision: Optional[str] = None, threads: Optional[int] = 1, max_people: int = 4,
            background: str = "original", size: Optional[int] = None,
            on_frame: Callable[[int, Optional[int], dict], None] = lambda i, n, t: None) -> dict:
    """Animate a video (or image) file into out; returns per-frame timings and a summary. OUT is whole or absent.

    threads: per model; 1 by default, because decoding and compositing + encoding already run in threads of their own
    (on 2 cores, 2 model threads measured slower: benchmarks/results/animate-*.md).
    """
    src, out = Path(src), Path(out)
    if src.resolve() == out.resolve():
        raise VideoError(f"{out}: is the input; choose another output path")
    b = load(bundle, backend, precision, threads)
    reader = Reader(src)
    try:
        animator = Animator(b, float(reader.fps), max_people, background, size, 1 if reader.is_image else CONFIRM)
        if not reader.is_image and out.suffix.lower() in IMAGE_SUFFIXES:
            raise VideoError(f"{out}: an image output needs an image input ({src} is a video); use .mp4")
        width = reader.width * (2 if background == "side-by-side" else 1)
        writer = Writer(out, width, reader.height, reader.fps, reader.audio)
        try:
            start = time.perf_counter()
            per_frame = _run(reader, animator, writer, on_frame)
            if not per_frame:
                raise VideoError(f"{src}: no frames could be decoded")
            writer.close()
            seconds = time.perf_counter() - start
        except BaseException:
            writer.abort()
            raise
    finally:
        reader.close()
    return summary(src, out, animator, per_frame, seconds, writer.warnings)


def _run(reader: Reader, animator: Animator, writer: Writer, on_frame) -> list[dict]:
    """Three stages in three threads, a few frames of slack between them (PyAV and numpy release the GIL): decode;
    pose + generator (this thread); composite + encode. The models run while FFmpeg works, and memory stays flat."""
    decoded: queue.Queue = queue.Queue(maxsize=QUEUE)
    encoded: queue.Queue = queue.Queue(maxsize=QUEUE)
    stop, errors, rows = threading.Event(), [], []

    def put(q: queue.Queue, item) -> None:
        while not stop.is_set():
            try:
                return q.put(item, timeout=0.1)
            except queue.Full:
                continue

    def get(q: queue.Queue):
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def decode() -> None:
        try:
            frames = reader.frames(on_audio=writer.mux_audio)
            while True:
                t = time.perf_counter()
                rgb = next(frames, None)
                if rgb is None:
                    break
                put(decoded, (rgb, _ms(t)))
        except BaseException as e:  # noqa: BLE001 - handed to the main thread, which raises it
            errors.append(e)
        finally:
            put(decoded, None)

    def encode() -> None:
        try:
            while (item := get(encoded)) is not None:
                rgb, drawings, remove, row = item
                t = time.perf_counter()
                image = animator.compose(rgb, drawings, remove)
                row["composite"] = _ms(t)
                t = time.perf_counter()
                writer.write(image)
                row["encode"] = _ms(t)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=decode, daemon=True), threading.Thread(target=encode, daemon=True)]
    for th in threads:
        th.start()
    try:
        while (item := get(decoded)) is not None:
            rgb, decode_ms = item
            drawings, remove, times = animator(rgb)
            row = {"frame": len(rows), "decode": decode_ms, **times, "composite": 0.0, "encode": 0.0}
            rows.append(row)
            put(encoded, (rgb, drawings, remove, row))
            on_frame(len(rows), reader.frames_hint, row)
        put(encoded, None)
        threads[1].join()
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=5)
    if errors:
        raise errors[0]
    return rows


def summary(src: Path, out: Path, animator: Animator, per_frame: list[dict], seconds: float, warnings: list[str]) -> dict:
    """fps: frames over the wall-clock time of the whole loop (decode to encode, models loaded); ms_mean: per stage."""
    n = len(per_frame)
    people = [r["people"] for r in per_frame]
    if not any(people):
        warnings = warnings + [f"{src}: no people found; {out} shows the background only"]
    g, p = animator.generator.entry, animator.pose.entry
    return {"input": str(src), "output": str(out), "frames": n, "fps_in": float(animator.fps),
            "models": {"pose": p.key, "generator": g.key}, "backend": animator.generator.backend,
            "threads": animator.bundle.threads, "size": animator.size, "background": animator.background,
            "people_max": max(people), "track_count": len({t["id"] for r in per_frame for t in r["tracks"]}),
            "ms_mean": {s: round(float(np.mean([r[s] for r in per_frame])), 3) for s in STAGES},
            "seconds": round(seconds, 3), "fps": round(n / seconds, 2), "peak_rss_mb": device.peak_rss_mb(), "warnings": warnings, "per_frame": per_frame}
