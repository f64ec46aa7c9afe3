"""Compare generator checkpoints on the same poses and appearances (PyTorch fp32): how a checkpoint is chosen on the
validation split, and a before/after on the test split once it is chosen.

    python benchmarks/generator_compare.py A.safetensors runs/B.state.pt ... [--split val] [--size 256] [--samples 48]

Each file is a weights file (.safetensors, read as `--init` reads it: layers it lacks start as they would in a
fine-tune) or a training state (.pt: its EMA weights, as the run would write them). The poses: the val split (camera 2
of Pose2Sim's single-person lab) or the test split's camera 2 (Pose2Sim's multi-person lab, as generator_eval.py),
half with random appearances, half wearing the real person's colours. Prints one row per file and appearance kind.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from animetool.models import create_model
from animetool.train.distill import _init_from, read_weights
from generator_eval import heldout_people, samples_at, users_see

ARCH = {128: "generator-student", 256: "generator-student-256"}


def load_net(path: Path, arch: str) -> tuple[torch.nn.Module, str]:
    net = create_model(arch, pretrained=False)
    if path.suffix == ".pt":
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state["ema"])
        return net.eval(), f"step {state['step']}"
    _init_from(net, path)
    return net.eval(), read_weights(path)[1].get("steps", "") + " steps"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path, nargs="+")
    ap.add_argument("--data", type=Path, default=Path("runs/posedata"))
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--size", type=int, choices=sorted(ARCH), default=256)
    ap.add_argument("--samples", type=int, default=48)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    conds, targets, canvases, looks = samples_at(args.size, heldout_people(args.data, args.split), args.samples)
    x = torch.from_numpy(conds)
    rows = []
    for path in args.weights:
        net, tag = load_net(path, ARCH[args.size])
        with torch.no_grad():
            outs = torch.cat([net(x[i:i + 8]) for i in range(0, len(x), 8)]).numpy()
        for kind, m in users_see(outs, targets, canvases, looks).items():
            rows.append({"weights": str(path), "at": tag, "appearances": kind, **m})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    keys = [k for k in rows[0] if k not in ("weights", "at", "appearances")]
    print(f"{args.samples} poses of the {args.split} split, {args.size} px, fp32\n")
    print("| weights | at | appearances | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for r in rows:
        print(f"| {r['weights']} | {r['at']} | {r['appearances']} | " + " | ".join(f"{r[k]:.3g}" for k in keys) + " |")


if __name__ == "__main__":
    main()
