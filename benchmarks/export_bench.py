"""Export the default models to every target x precision, verify them and benchmark them on this machine.

    python benchmarks/export_bench.py [--threads 1,2] [--runs 100]

Writes benchmarks/results/export-<cpu>-<cores>.json (device, parity, latency, RSS per row) and .md (the table the README quotes).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from animetool_runtime import device
from animetool_runtime.bench import COLUMNS, cells

RESULTS = Path(__file__).parent / "results"


def cli(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "animetool.cli", *args], capture_output=True, text=True, timeout=3600)
    if proc.returncode not in (0, 1):
        sys.exit(f"animetool {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "default"
        cli("export", "-t", "all", "-p", "all", "-o", str(bundle))
        verify = json.loads(cli("verify", str(bundle), "--json"))
        result = json.loads(cli("bench", str(bundle), "--threads", args.threads, "--runs", str(args.runs), "--json"))
        manifest = json.loads((bundle / "manifest.json").read_text())
    result["verify"] = {r["key"]: r["status"] for r in verify}
    result["export_seconds"] = {f"{m['name']}/{m['format']}/{m['precision']}": m["export"]["seconds"] for m in manifest["models"]}
    RESULTS.mkdir(exist_ok=True)
    d = result["device"]
    stem = RESULTS / f"export-{device.slug(d)}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Device: {device.short(d)}, {d['os']}, Python {d['python']}; "
             f"{', '.join(f'{k} {v}' for k, v in d['packages'].items())}. {args.runs} timed runs per row.", "",
             "| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in result["rows"]]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
