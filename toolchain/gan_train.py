"""Generator training. Teacher: pix2pix (L1 + LSGAN + discriminator feature matching). Student: GAN Compression's
recipe (match the teacher's output and, through learned 1x1 projections, its decoder features; plus the GAN terms)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .avatar_data import batch
from .training import Trainer

L1_WEIGHT, FM_WEIGHT, DISTILL_WEIGHT, FEATURE_WEIGHT = 100.0, 10.0, 100.0, 10.0


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
    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        cond, real = batch(self.poses, self.size, self.batch_size, rng)
        fake = self.model(cond)
        parts = self.gan_terms(cond, real, fake)
        parts["l1"] = L1_WEIGHT * F.l1_loss(fake, real)
        total = parts["l1"] + parts["adv"] + parts["fm"]
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
