"""Run every int8 file of a bundle on its reference inputs and save the outputs (npz keyed "<entry>:<output>").

test_int8_portable runs this natively and under qemu-user emulating other x86 CPUs, then compares the two."""
from __future__ import annotations

import sys

import numpy as np

from animetool_runtime import device, load
from animetool_runtime.parity import reference


def outputs(bundle_path: str, formats: list[str], models: list[str]) -> dict[str, np.ndarray]:
    bundle = load(bundle_path, threads=1)
    out = {}
    for entry in bundle.manifest.models:
        if entry.precision != "int8" or entry.format not in formats or entry.name not in models:
            continue
        model = bundle.open_entry(entry)
        x, _ = reference(bundle.root / entry.reference)
        ys = [model.run(xi[None], layout="NCHW") for xi in x]
        for i, spec in enumerate(entry.outputs):
            out[f"{entry.key}:{spec.name}"] = np.concatenate([y[i] for y in ys])
    return out


if __name__ == "__main__":
    bundle_path, dst, formats, models = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
    np.savez(dst, **outputs(bundle_path, formats, models), cpu_features=np.array(device.cpu_features()))
