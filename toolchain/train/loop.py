"""One resumable training loop for every student and teacher: AdamW + warm-up/cosine, weight EMA, atomic saves.

A subclass implements step(batch_rng) -> losses; the data of step i depends only on (seed, i), so a resumed run
sees the same batches as an uninterrupted one. An optional discriminator gets its own optimizer and schedule.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from animetool_runtime.atomic import atomic_path


def cosine(opt: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warm = min(200, steps // 10 + 1)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))


class Trainer:
    def __init__(self, model: torch.nn.Module, state: Path, steps: int, seed: int, lr: float = 2e-3,
                 disc: Optional[torch.nn.Module] = None, disc_lr: float = 2e-4):
        self.model, self.state, self.steps, self.seed, self.disc = model, Path(state), steps, seed, disc
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        self.sched = cosine(self.opt, steps)
        if disc is not None:
            self.opt_disc = torch.optim.AdamW(disc.parameters(), lr=disc_lr, betas=(0.5, 0.999))
            self.sched_disc = cosine(self.opt_disc, steps)
        self.ema = copy.deepcopy(model).eval()
        self.step, self.history = 0, []
        if self.state.exists():
            self._resume()

    def _resume(self) -> None:
        """Tensors and plain values only (weights_only): a state file cannot run code. Any fault is one ValueError."""
        try:
            s = torch.load(self.state, map_location="cpu", weights_only=True)
            for key, obj in self._parts().items():
                obj.load_state_dict(s[key])
            self.step, self.history = int(s["step"]), list(s["history"])
        except Exception as e:  # pickle, zip, key and shape errors all mean the same to the user
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise ValueError(f"{self.state}: not a training state this run can resume ({first}); "
                             "delete it to start over, or pass another --state") from None

    def _parts(self) -> dict:
        parts = {"model": self.model, "ema": self.ema, "opt": self.opt, "sched": self.sched}
        if self.disc is not None:
            parts.update(disc=self.disc, opt_disc=self.opt_disc, sched_disc=self.sched_disc)
        return parts

    def save(self) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.state) as tmp:
            torch.save({**{k: v.state_dict() for k, v in self._parts().items()}, "step": self.step,
                        "history": self.history}, tmp)

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(0.998, (1 + self.step) / (10 + self.step))
        for e, m in zip(self.ema.state_dict().values(), self.model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.mul_(decay).add_(m, alpha=1 - decay)
            else:
                e.copy_(m)

    def backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, params) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()

    def train_step(self, rng: np.random.Generator) -> dict[str, float]:
        raise NotImplementedError

    def run(self, on_step: Callable[[int, dict], None] = lambda i, parts: None, save_every: float = 180.0) -> None:
        self.model.train()
        if self.disc is not None:
            self.disc.train()
        last = time.monotonic()
        try:
            while self.step < self.steps:
                parts = self.train_step(np.random.default_rng([self.seed, self.step]))
                self.sched.step()
                if self.disc is not None:
                    self.sched_disc.step()
                self._update_ema()
                self.step += 1
                self.history.append(parts["total"])
                on_step(self.step, parts)
                if time.monotonic() - last > save_every:
                    self.save()
                    last = time.monotonic()
        except KeyboardInterrupt:
            self.save()  # Ctrl-C keeps the steps done so far: the same command resumes from here
            raise
        self.save()
