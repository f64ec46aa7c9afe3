"""Generator training. From the renderer: pix2pix (head-weighted L1 + gradient L1 + LSGAN + discriminator feature matching). Student: GAN Compression's
recipe (match the teacher's output and, through learned 1x1 projections, its decoder features; plus the GAN terms)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from animetool.data.avatar_data import batch
from animetool.train.loop import Trainer

L1_WEIGHT, FM_WEIGHT, DISTILL_WEIGHT, FEATURE_WEIGHT = 100.0, 10.0, 100.0, 10.0
HEAD_WEIGHT, FACE_WEIGHT, EDGE_WEIGHT = 4.0, 8.0, 100.0  # measured: head, eyes and outlines lag without them


def _grow(x: torch.Tensor, k: int) -> torch.Tensor:
    return F.max_pool2d(F.max_pool2d(x, (1, k), 1, (0, k // 2)), (k, 1), 1, (k // 2, 0))  # separable: k x k square


def head_weight(cond: torch.Tensor) -> torch.Tensor:
    """Per-pixel loss weight: 1, plus HEAD_WEIGHT on the square of side 0.3 x size around the head keypoints (nose,
    eyes, ears), plus FACE_WEIGHT around the face maps (the conditioning's last two: eyes, mouth): small parts a
    plain L1 averages away."""
    size = cond.shape[-1]
    head = _grow(cond[:, :5].amax(1, keepdim=True), int(0.3 * size) | 1) > 0.1
    face = _grow(cond[:, -2:].amax(1, keepdim=True), (size // 32) | 1) > 0.05
    return 1 + HEAD_WEIGHT * head.float() + FACE_WEIGHT * face.float()


def drawing_loss(fake: torch.Tensor, real: torch.Tensor, cond: torch.Tensor) -> dict[str, torch.Tensor]:
    """Head-weighted L1 plus L1 of the image gradients (keeps outlines and small parts sharp)."""
    w = head_weight(cond)
    grads = [(fake[..., 1:, :] - fake[..., :-1, :]) - (real[..., 1:, :] - real[..., :-1, :]),
             (fake[..., 1:] - fake[..., :-1]) - (real[..., 1:] - real[..., :-1])]
    edge = (grads[0].abs() * w[..., 1:, :]).mean() + (grads[1].abs() * w[..., 1:]).mean()
    return {"l1": L1_WEIGHT * ((fake - real).abs() * w).mean(), "edge": EDGE_WEIGHT * edge}


class GanTrainer(Trainer):
    """Shared by teacher and student: the discriminator step and the generator's adversarial + feature-matching terms."""

    def __init__(self, model: nn.Module, disc: nn.Module, poses: np.ndarray, state: Path, steps: int, seed: int,
                 batch_size: int, size: int, lr: float = 2e-3):
        super().__init__(model, state, steps, seed, lr, disc=disc)
        self.poses, self.batch_size, self.size = poses, batch_size, size

    def gan_terms(self, cond: torch.Tensor, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        d_real, _ = self.disc(cond, real)
        d_fake, _ = self.disc(cond, fake.detach())
        loss_d = 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake ** 2).mean()
        self.backward_step(loss_d, self.opt_disc, self.disc.parameters())
        d_fake, f_fake = self.disc(cond, fake)
        with torch.no_grad():
            _, f_real = self.disc(cond, real)
        fm = sum(F.l1_loss(a, b) for a, b in zip(f_fake, f_real)) / len(f_real)
        return {"disc": loss_d.detach(), "adv": ((d_fake - 1) ** 2).mean(), "fm": FM_WEIGHT * fm}


class TeacherTrainer(GanTrainer):
    """A generator learning from the renderer's drawings; without a critic (disc None) from the drawing loss alone,
    which suits a target that is a deterministic function of the conditioning, at a third of the time per step."""

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        cond, real = (t.contiguous(memory_format=torch.channels_last) for t in batch(self.poses, self.size, self.batch_size, rng))
        fake = self.model(cond)
        parts = {**(self.gan_terms(cond, real, fake) if self.disc is not None else {}), **drawing_loss(fake, real, cond)}
        total = sum(v for k, v in parts.items() if k != "disc")
        self.backward_step(total, self.opt, self.model.parameters())
        return {**{k: float(v.detach()) for k, v in parts.items()}, "total": float(total.detach())}


class Distiller(nn.Module):
    """The student plus 1x1 projections of its decoder features onto the teacher's (dropped after training)."""

    def __init__(self, student: nn.Module, teacher: nn.Module):
        super().__init__()
        self.student = student
        self.proj = nn.ModuleList([nn.Conv2d(s, t, 1) for s, t in zip(student.channels, teacher.channels)])


class StudentTrainer(GanTrainer):
    def __init__(self, distiller: Distiller, teacher: nn.Module, *args, **kw):
        super().__init__(distiller, *args, **kw)
        self.teacher = teacher.eval().requires_grad_(False)

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        cond, real = batch(self.poses, self.size, self.batch_size, rng)
        with torch.no_grad():
            t_out, t_feats = self.teacher.forward_features(cond)
        fake, s_feats = self.model.student.forward_features(cond)
        parts = self.gan_terms(cond, real, fake)
        parts["distill"] = DISTILL_WEIGHT * F.l1_loss(fake, t_out)
        parts["features"] = FEATURE_WEIGHT * sum(F.mse_loss(p(s), t) for p, s, t in zip(self.model.proj, s_feats, t_feats)) / len(t_feats)
        parts["l1"] = 0.2 * L1_WEIGHT * F.l1_loss(fake, real)
        total = parts["distill"] + parts["features"] + parts["l1"] + parts["adv"] + parts["fm"]
        self.backward_step(total, self.opt, self.model.parameters())
        return {**{k: float(v.detach()) for k, v in parts.items()}, "total": float(total.detach())}
