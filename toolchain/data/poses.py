"""animetool data: frames of real footage plus the teacher's pseudo-labels, computed once and cached for training.

Layout of a data folder: index.json (teacher, per-item source, licence, split, frame count) and one folder per item
with frames/NNNNNN.jpg and labels.npz (frame ids, people (N, P, 17, 3) in that frame's pixels, count per frame).
Each item is written atomically, so an interrupted run resumes at the first item not yet done.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from animetool_runtime.atomic import atomic_path

from animetool.data.images import IMAGE_EXTS, read_rgb
from animetool.data.footage import EVAL_ONLY, FOOTAGE, SPLITS, fetch_footage, frames
from animetool.data.teachers import BlazePoseTeacher, FileTeacher, PoseTeacher, TeacherError

VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
# vtest's pedestrians are too small for BlazePose; the photos are for evaluation only (pose_eval labels them itself)
DEFAULT_SOURCES = [n for n in FOOTAGE if n != "opencv-vtest" and SPLITS.get(n) not in EVAL_ONLY]
MAX_SIDE = 640
MAX_PEOPLE = 8


class DataError(ValueError):
    """A source or data folder that cannot be used; the message names it and the fault."""


@dataclass
class Item:
    name: str
    path: Path
    source: str
    licence: str
    split: str


def load_teacher(spec: str, threads: int | None = None) -> PoseTeacher:
    """blazepose[-full|-lite|-heavy], or a bundle (folder/.zip) with a pose entry."""
    if spec.startswith("blazepose"):
        variant = spec.split("-", 1)[1] if "-" in spec else "full"
        return BlazePoseTeacher(variant, threads=threads)
    if Path(spec).exists():
        return FileTeacher(spec, threads=threads)
    raise TeacherError(f"{spec}: not a known teacher (blazepose, blazepose-lite, blazepose-heavy) or a bundle path")


def resolve_sources(specs: list[str]) -> list[Item]:
    """Built-in footage names (split from footage.SPLITS), or user files/folders of videos and images (all 'train')."""
    builtin = [s for s in specs if s in FOOTAGE]
    paths = fetch_footage(builtin) if builtin else {}
    items = [Item(n, paths[n], FOOTAGE[n].source, FOOTAGE[n].package.licence, SPLITS.get(n, "train")) for n in builtin]
    for spec in (s for s in specs if s not in FOOTAGE):
        p = Path(spec)
        if not p.exists():
            raise DataError(f"{spec}: not a built-in footage name ({', '.join(FOOTAGE)}) nor an existing file or folder")
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        media = [f for f in files if f.suffix.lower() in VIDEO_EXTS | IMAGE_EXTS]
        if not media:
            raise DataError(f"{spec}: no videos ({', '.join(sorted(VIDEO_EXTS))}) or images found")
        for f in media:
            name = f"user-{f.stem}"
            items.append(Item(name, f, str(f), "user-supplied", "train"))
    return items


def _shrink(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = MAX_SIDE / max(h, w)
    if s >= 1:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((round(w * s), round(h * s)), Image.BILINEAR, reducing_gap=2.0))


def _frames(item: Item, every: int, limit: int | None) -> Iterator[tuple[int, np.ndarray]]:
    if item.path.suffix.lower() in IMAGE_EXTS:
        yield 0, read_rgb(item.path)
    else:
        yield from frames(item.path, every, limit)


def mirror_agrees(people: np.ndarray, mirrored: np.ndarray, width: int, margin: float = 0.05) -> np.ndarray:
    """Per person of people (the teacher on a frame): False where the teacher, run on the frame's mirror image and
    mapped back, labels that person's left and right the other way round (swapped OKS higher by more than margin):
    the teacher guessed. A person the mirror run did not find counts as agreeing."""
    from animetool.models.coco import COCO_FLIP
    from animetool.pose_metrics import oks

    back = mirrored.copy()
    back[..., 0] = width - back[..., 0]
    back = back[:, COCO_FLIP]
    ok = np.ones(len(people), bool)
    for i, person in enumerate(people):
        pairs = [(oks(person, b), oks(person, b[COCO_FLIP])) for b in back]
        if pairs:
            same, swapped = max(pairs, key=max)
            ok[i] = swapped <= same + margin
    return ok


def label_item(item: Item, teacher: PoseTeacher, out: Path, every: int, limit: int | None,
               on_frame: Callable[[], None] = lambda: None) -> int:
    """Frames (long side <= MAX_SIDE) and the teacher's people on them, written into out/<item> atomically. The
    teacher also labels each frame's mirror image: lr_agrees records, per person, whether both runs put left and
    right on the same side (training skips frames where they do not)."""
    tmp = out / f".{item.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "frames").mkdir(parents=True)
    ids, people, counts, agrees = [], [], [], []
    try:
        for i, rgb in _frames(item, every, limit):
            small = _shrink(rgb)
            Image.fromarray(small).save(tmp / "frames" / f"{i:06d}.jpg", quality=92)
            found = teacher(small)[:MAX_PEOPLE]
            padded = np.zeros((MAX_PEOPLE, 17, 3), np.float32)
            padded[: len(found)] = found
            agree = np.ones(MAX_PEOPLE, bool)
            agree[: len(found)] = mirror_agrees(found, teacher(np.ascontiguousarray(small[:, ::-1])), small.shape[1])
            ids.append(i)
            people.append(padded)
            counts.append(len(found))
            agrees.append(agree)
            on_frame()
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, (OSError, ValueError)) or type(e).__module__.startswith("av"):
            raise DataError(f"{item.path}: cannot decode ({e})") from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not ids:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{item.path}: no frames could be read")
    np.savez(tmp / "labels.npz", frame_ids=np.array(ids), people=np.stack(people), count=np.array(counts),
             lr_agrees=np.stack(agrees))
    final = out / item.name
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return len(ids)


def build(sources: list[str], teacher_spec: str, out: Path, every: int = 1, limit: int | None = None,
          threads: int | None = None, on_item: Callable[[Item, int], None] = lambda item, n: None,
          on_frame: Callable[[], None] = lambda: None) -> dict:
    """Label every source not already in out (same teacher); returns the index written to out/index.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"items": {}}
    if index.get("teacher") and index["teacher"]["teacher"] != teacher_spec:
        raise DataError(f"{out}: labelled by {index['teacher']['teacher']}, not {teacher_spec}; use another folder")
    items = resolve_sources(sources)
    teacher = None
    for item in items:
        done = index["items"].get(item.name)
        if done and (out / item.name / "labels.npz").exists() and done["every"] == every and done["limit"] == limit:
            if done["split"] != item.split:  # a folder labelled before the splits changed: same labels, today's split
                done["split"] = item.split
                _write_index(index, index_path)
            on_item(item, done["frames"])
            continue
        teacher = teacher or load_teacher(teacher_spec, threads)
        n = label_item(item, teacher, out, every, limit, on_frame)
        index["teacher"] = {**teacher.source, "teacher": teacher_spec, "name": teacher.name}
        index["items"][item.name] = {"source": item.source, "licence": item.licence, "split": item.split,
                                     "frames": n, "every": every, "limit": limit}
        _write_index(index, index_path)
        on_item(item, n)
    return index


def _write_index(index: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(index, indent=2) + "\n")


def read_index(data: Path) -> dict:
    try:
        return json.loads((Path(data) / "index.json").read_text())
    except FileNotFoundError:
        raise DataError(f"{data}: no index.json (make it with `animetool data -o {data}`)") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{data}/index.json: not valid JSON ({e})") from None


def load_split(data: Path, split: str | None, items: tuple[str, ...] | None = None,
               lr_agreed: bool = False) -> list[tuple[str, Path, np.ndarray]]:
    """[(item, frame path, people (P, 17, 3))] for every frame of the split (None: every split), of the named items
    only when items is given; with lr_agreed, only frames where the teacher put every person's left and right on the
    same side in the frame and in its mirror image (folders labelled before that check count as agreeing)."""
    index = read_index(data)
    rows = []
    for name, meta in index["items"].items():
        if (split is not None and meta["split"] != split) or (items is not None and name not in items):
            continue
        with np.load(Path(data) / name / "labels.npz") as z:
            agrees = z["lr_agrees"] if "lr_agrees" in z.files else np.ones(z["people"].shape[:2], bool)
            for fid, people, n, agree in zip(z["frame_ids"], z["people"], z["count"], agrees):
                if lr_agreed and not agree[:n].all():
                    continue
                rows.append((name, Path(data) / name / "frames" / f"{fid:06d}.jpg", people[:n]))
    return rows
