"""python -m animetool_runtime bench BUNDLE: the benchmark that runs on a phone (Termux) or a Raspberry Pi, no toolchain."""
from __future__ import annotations

import argparse
import json
import sys

from .manifest import BundleError


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_bench_one"]:
        from .bench import run_one

        bundle, key, threads, runs, warmup = argv[1:6]
        try:
            print(json.dumps(run_one(bundle, key, int(threads), int(runs), int(warmup))))
        except BundleError as e:  # the parent shows this last stderr line as the row's reason
            print(e, file=sys.stderr)
            return 1
        return 0
    parser = argparse.ArgumentParser(prog="animetool-runtime", description="Run and benchmark animetool bundles.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="latency, FPS, parity and peak RSS of every model x format x precision")
    b.add_argument("bundle", help="bundle folder or .zip")
    b.add_argument("--backend", action="append", help="only this backend (onnxruntime, litert, openvino, coreml); repeatable")
    b.add_argument("--threads", type=_ints, default=[1], help="comma list, e.g. 1,2")
    b.add_argument("--runs", type=int, default=50)
    b.add_argument("--warmup", type=int, default=5)
    b.add_argument("--json", action="store_true", help="print the result as JSON (with the device description)")
    args = parser.parse_args(argv)
    from .bench import bench, format_table

    try:
        result = bench(args.bundle, args.backend, args.threads, args.runs, args.warmup,
                       on_row=(lambda r: None) if args.json else lambda r: print(f"  {r['model']} {r['format']} {r['precision']} "
                                                                      f"x{r['threads']}: {r['status']}", file=sys.stderr))
    except BundleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        d = result["device"]
        print(f"device: {d['cpu']} ({d['cores']} cores), {d['os']}, Python {d['python']}")
        print(format_table(result["rows"]))
    return 0 if all(r["status"] != "failed" for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
