"""python -m animetool_runtime bench BUNDLE: the benchmark that runs on a phone (Termux) or a Raspberry Pi, no toolchain."""
from __future__ import annotations

import argparse
import json
import sys
import time

from .formats import BY_BACKEND
from .manifest import BundleError


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_probe"]:
        from .backends import probe_main

        return probe_main(argv[1], argv[2])
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
    b.add_argument("--backend", action="append", help=f"only this backend ({', '.join(BY_BACKEND)}); repeatable")
    b.add_argument("--threads", type=_ints, default=[1], help="comma list, e.g. 1,2")
    b.add_argument("--runs", type=int, default=50)
    b.add_argument("--warmup", type=int, default=5)
    b.add_argument("--json", action="store_true", help="print the result as JSON (with the device description)")
    a = sub.add_parser("animate", help="real video (or image) in, anime video out")
    a.add_argument("input", help="video or image file")
    a.add_argument("-o", "--out", required=True, help="output .mp4 (or .png/.jpg for an image)")
    a.add_argument("--bundle", help="bundle folder or .zip with a pose and a generator model (default: the cached "
                                    "default bundle that `animetool animate` makes)")
    a.add_argument("--backend", help="tflite, onnx or openvino (default: the first installed the bundle has)")
    a.add_argument("--precision", help="int8, fp16 or fp32 (default: the smallest that passed parity)")
    a.add_argument("--threads", type=int, default=1, help="threads per model (default 1: decoding and encoding have "
                                                           "threads of their own)")
    a.add_argument("--max-people", type=int, default=4, help="draw at most this many people per frame")
    a.add_argument("--background", default="original", choices=["original", "blur", "plain", "side-by-side"])
    a.add_argument("--size", type=int, help="generator resolution in px (default: the largest in the bundle)")
    a.add_argument("--json", action="store_true", help="print per-frame timings and a summary as JSON")
    args = parser.parse_args(argv)
    if args.command == "animate":
        return _animate(args)
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
    return 0 if all(r["status"] not in ("failed", "export-failed") for r in result["rows"]) else 1


def _animate(args) -> int:
    """Runs the pipeline with a frame counter on stderr (rewritten in place on a terminal, every 50 frames otherwise)."""
    from .animate import animate
    from .bundle import default_bundle

    tty = sys.stderr.isatty() and not args.json
    start = time.perf_counter()

    def progress(i: int, total: int | None, row: dict) -> None:
        if tty or i % 50 == 0:
            fps = i / (time.perf_counter() - start)
            line = f"frame {i}" + (f"/{total}" if total else "") + f"  {fps:.1f} frames/s"
            print("\r" + line if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    def say(text: str) -> None:
        print(("\n" if tty else "") + text, file=sys.stderr)

    try:
        bundle = args.bundle or default_bundle(args.backend)
        result = animate(args.input, args.out, bundle, args.backend, args.precision, args.threads, args.max_people,
                         args.background, args.size, on_frame=progress)
    except (BundleError, ValueError) as e:
        say(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        say(f"error: {args.out}: interrupted; nothing was written")
        return 130
    for w in result["warnings"]:
        say(f"warning: {w}")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        say(f"wrote {result['output']}: {result['frames']} frames, {result['track_count']} people tracked, "
            f"{result['fps']} frames/s ({result['backend']}, generator at {result['size']} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
