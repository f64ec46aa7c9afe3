"""`animetool lint MODEL`: the int8 and export hazards of a model, with where, why and the fix (rules in lint.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from animetool_runtime.commands import SOME_FAILED
from animetool.console import console, fail, parse_norm, parse_shape, table_console

MEAN_HELP = "module:factory models: per-channel mean the model was trained with, on [0, 1] RGB (ImageNet: 0.485,0.456,0.406)"
STD_HELP = "module:factory models: per-channel std the model was trained with (ImageNet: 0.229,0.224,0.225)"

STYLE = {"error": "red", "warning": "yellow", "info": "dim"}


def lint(
    model: str = typer.Argument(..., help="registered name, checkpoint file, or package.module:factory"),
    input_shape: Optional[str] = typer.Option(None, help="input shape for package.module:factory models, e.g. 1,3,224,224"),
    mean: Optional[str] = typer.Option(None, help=MEAN_HELP),
    std: Optional[str] = typer.Option(None, help=STD_HELP),
    calib: Optional[Path] = typer.Option(None, help="folder of images or .npy inputs to measure ranges on "
                                                    "(default: what export calibrates int8 with)"),
    samples: int = typer.Option(16, min=1, help="calibration inputs to measure ranges on"),
    as_json: bool = typer.Option(False, "--json", help="print the findings as JSON"),
) -> None:
    """Before exporting: the layers and patterns that break int8 or a target (per-sample norms, attention, smooth
    activations and saturating ones after wide ranges, outliers, concat of unequal ranges, decoding inside the graph,
    transposed convs), each with its module path, the range measured on calibration inputs and the fix.
    Exits 1 when any warning or error is found."""
    from animetool.data import calib as calibration
    from animetool.data.images import InputError
    from animetool.export.lint import lint as run_lint
    from animetool.export.sources import SourceError, resolve

    try:
        with console.status(f"lint {model}: capturing the graph and measuring ranges on {samples} inputs"):
            src = resolve(model, parse_shape(input_shape), parse_norm(mean, std))
            inputs = calibration.load_inputs(calib, src.input_shape, src.preprocess, samples)
            findings = run_lint(src.module, inputs, src.name)
    except (SourceError, InputError) as e:
        fail(str(e))
    if as_json:
        print(json.dumps({"model": model, "findings": [f.to_dict() for f in findings]}, indent=2))
    elif not findings:
        table_console().print(f"{model}: no int8 or export hazards found", highlight=False)
    else:
        t = Table("severity", "where", "op", "rule", "reason", "fix", title=f"lint {model}")
        for f in findings:
            t.add_row(f.severity, f.where, f.op, f.rule, f.reason, f.fix, style=STYLE[f.severity])
        table_console().print(t)
    if any(f.severity != "info" for f in findings):
        raise typer.Exit(SOME_FAILED)
