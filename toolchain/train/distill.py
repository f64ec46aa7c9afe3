"""animetool distill: train a compact student from a teacher's outputs (pose: pseudo-labels on real footage)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from safetensors.torch import save_file

from animetool_runtime.atomic import atomic_path

from animetool.data.poses import DEFAULT_SOURCES, build, read_index
from animetool.models import REGISTRY, create_model


def distill_pose(teacher: str, data: Path, out: Path, steps: int, seed: int, arch: str = "pose-student-s",
                 batch_size: int = 32, state: Optional[Path] = None, size: Optional[int] = None,
                 on_step: Callable[[int, dict], None] = lambda i, p: None,
                 on_stage: Callable[[str], None] = lambda s: None) -> dict:
    """Label data with the teacher if needed, train arch on its train split, write EMA weights to out (safetensors)."""
    from animetool.train.pose import PoseTrainer, background_photos, load_frames

    from animetool.models import fault_at

    info = REGISTRY[arch]
    size = size or info.input_shape[-1]
    torch.manual_seed(seed)
    model = create_model(arch, pretrained=False).train().to(memory_format=torch.channels_last)
    why = fault_at(model, (1, info.input_shape[1], size, size))
    if why:
        raise ValueError(f"--size {size}: {arch} {why}")
    if not (Path(data) / "index.json").exists():
        on_stage(f"labelling the built-in footage with {teacher} into {data}")
        build(DEFAULT_SOURCES, teacher, data)
    index = read_index(data)
    if index["teacher"]["teacher"] != teacher:
        raise ValueError(f"{data}: labelled by {index['teacher']['teacher']}, not {teacher}")
    on_stage("loading frames")
    frames = load_frames(data, "train")
    state = Path(state or Path("runs") / f"{Path(out).stem}.state.pt")
    trainer = PoseTrainer(model, frames, state, steps, seed, batch_size, size=size,
                      stride=info.postprocess["stride"], backgrounds=background_photos())
    on_stage(f"training from step {trainer.step}" if trainer.step else "training")
    trainer.run(on_step)
    meta = {"arch": arch, "licence": "Apache-2.0", "teacher": teacher,
            "teacher_files": json.dumps(index["teacher"].get("files", {})),
            "data": json.dumps({n: {k: m[k] for k in ("source", "licence", "frames")}
                                for n, m in index["items"].items() if m["split"] == "train"}),
            "held_out": json.dumps({n: m["split"] for n, m in index["items"].items() if m["split"] != "train"}),
            "steps": str(steps), "seed": str(seed), "batch_size": str(batch_size),
            "train_size": str(size), "recipe": " ".join(["animetool"] + sys.argv[1:]),
            "source": f"distilled from {teacher} pseudo-labels on the train split of {data}"}
    _save(trainer.ema, out, meta)
    return _summary(out, trainer)


def _summary(out: Path, trainer) -> dict:
    return {"out": str(out), "steps": trainer.step,
            "first_loss": float(np.mean(trainer.history[:50])), "final_loss": float(np.mean(trainer.history[-50:]))}


def _save(module: torch.nn.Module, out: Path, meta: dict) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(tmp), metadata=meta)


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A .safetensors file's tensors and metadata; a corrupt or foreign file is one ValueError naming it."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except Exception as e:  # SafetensorError, OSError: the user sees the file and the reason, not the library
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ValueError(f"{path}: not a readable .safetensors weights file ({first})") from None


def _widened(w: torch.Tensor, mine: torch.Tensor) -> torch.Tensor:
    """The checkpoint's tensor in the leading corner of a wider one (Net2Net's widening, silent variant): the channels
    the checkpoint has keep its values, new output channels keep the net's fresh init (BatchNorm's 1 and 0, a conv's
    random filters, so they compute something and a gradient reaches them), and a conv's weights from new input
    channels into old output channels start at zero, so the old channels compute exactly what they did."""
    out = mine.detach().clone()
    if w.dim() > 1:
        out[: w.shape[0], w.shape[1]:] = 0
    out[tuple(slice(0, n) for n in w.shape)] = w
    return out


def _init_from(net: torch.nn.Module, path: Path) -> None:
    """Start from a checkpoint; input channels it lacks (a conditioning that gained maps at its end) start at zero, and
    so do the layers it lacks (a newly added branch), so the network starts out computing exactly what the checkpoint
    did. A net that names them in `zero_start` (a branch's last layer) zeroes only those: the branch's other layers keep
    their fresh init, else no gradient would ever reach them.

    A half-resolution generator (UNetGenerator(half=True)) starts from its full-resolution twin: each 2x2 output
    block as the pixel it replaces (the output conv's filters repeated 4x for depth-to-space), and the 2x2 stride-2
    first conv as the 3x3 one's sum over 4 (right on smooth maps); training at the new size does the rest.
    A wider net of the same topology (more channels at some levels) starts from a narrower one's weights: see _widened."""
    weights, own = read_weights(Path(path))[0], net.state_dict()
    for name, w in weights.items():
        mine = own.get(name)
        if mine is None or mine.shape == w.shape:
            continue
        if name.startswith("out.") and mine.shape[0] == 4 * w.shape[0] and mine.shape[1:] == w.shape[1:]:
            weights[name] = w.repeat_interleave(4, 0)
        elif w.dim() == 4 and mine.shape[:2] == w.shape[:2] and tuple(mine.shape[2:]) == (2, 2):
            weights[name] = w.sum((2, 3), keepdim=True).expand(-1, -1, 2, 2) / 4
        elif w.dim() == mine.dim() and w.shape[2:] == mine.shape[2:] and all(a >= b for a, b in zip(mine.shape, w.shape)):
            weights[name] = _widened(w, mine)
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if unexpected:
        raise ValueError(f"{path}: weights {', '.join(unexpected)} do not belong to {type(net).__name__}")
    zero = getattr(net, "zero_start", None)
    with torch.no_grad():
        for name in missing:
            if zero is None or name in zero:
                net.state_dict()[name].zero_()


def train_generator(data: Path, out: Path, steps: int, seed: int, arch: str = "generator-teacher",
                    teacher: Optional[Path] = None, batch_size: int = 8, state: Optional[Path] = None,
                    init: Optional[Path] = None, on_step: Callable[[int, dict], None] = lambda i, p: None,
                    gan: bool = True, lr: float = 2e-3) -> dict:
    """A generator from the renderer's drawings (teacher=None; pix2pix, or the drawing loss alone with gan=False) or,
    given a teacher checkpoint, the distilled student."""
    from animetool.data.avatar_data import load_poses
    from animetool.train.generator import Distiller, StudentTrainer, TeacherTrainer
    from animetool.models.generator import discriminator

    poses = load_poses(data, "train")
    torch.manual_seed(seed)
    info = REGISTRY[arch]
    size = info.input_shape[-1]
    state = Path(state or Path("runs") / f"{Path(out).stem}.state.pt")
    net = create_model(arch, pretrained=False).train()
    if init is not None:
        _init_from(net, Path(init))
    net = net.to(memory_format=torch.channels_last)
    meta = {"arch": arch, "licence": "Apache-2.0", "steps": str(steps), "seed": str(seed), "batch_size": str(batch_size),
            "train_size": str(size), "recipe": " ".join(["animetool"] + sys.argv[1:]), "data": f"{len(poses)} poses of the train split of {data} "
            "(BlazePose pseudo-labels on BSD-3 footage) drawn by animetool's avatar renderer"}
    if init is not None:
        meta["init"] = str(init)
    if teacher is None:
        trainer = TeacherTrainer(net, discriminator() if gan else None, poses, state, steps, seed, batch_size, size, lr)
        trainer.run(on_step)
        how = "pix2pix (head-weighted L1 + gradient L1 + GAN)" if gan else "head-weighted L1 + gradient L1"
        _save(trainer.ema, out, {**meta, "source": f"{how} on the renderer's drawings" + (f", from {init}" if init else "")})
    else:
        tweights, tmeta = read_weights(Path(teacher))
        t = create_model(tmeta.get("arch", "generator-teacher"), pretrained=False)
        try:
            t.load_state_dict(tweights)
        except RuntimeError as e:
            raise ValueError(f"{teacher}: not weights of {tmeta.get('arch', 'generator-teacher')} ({str(e).splitlines()[0]})") from None
        trainer = StudentTrainer(Distiller(net, t), t, discriminator(), poses, state, steps, seed, batch_size, size)
        trainer.run(on_step)
        _save(trainer.ema.student, out, {**meta, "teacher": str(teacher), "source": "distilled from the generator teacher"})
    return _summary(out, trainer)
