"""Writes the stand-in models' default weights: a seeded init whose BatchNorm statistics are measured on real photos.

Run: python -m animetool.standin_weights
"""
from __future__ import annotations

import torch
from safetensors.torch import save_file
from torch import nn

from animetool_runtime.blocks import Preprocess

from animetool.data import calib
from animetool.models import REGISTRY, create_model


def make_weights(name: str, seed: int = 0) -> None:
    info = REGISTRY[name]
    torch.manual_seed(seed)
    model = create_model(name, pretrained=False).train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average over all batches
    with torch.no_grad():
        for x in calib.sample_inputs(info.input_shape, Preprocess.from_dict(info.preprocess), count=64, seed=seed):
            model(torch.from_numpy(x))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(info.weights_path),
              metadata={"arch": name, "licence": "Apache-2.0",
                        "source": f"seeded init (seed {seed}) + BatchNorm statistics on scikit-image sample photos"})


if __name__ == "__main__":
    for n in ("generator-standin",):
        make_weights(n)
        print("wrote", REGISTRY[n].weights_path)
