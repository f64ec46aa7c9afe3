"""python -m animetool_runtime bench BUNDLE: the benchmark that runs on a phone (Termux) or a Raspberry Pi, no toolchain."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .commands import (ANIMATE, BAD_INPUT, BENCH, INTERRUPTED, SOME_FAILED, animate_summary, bench_failed, error_line,
                       interrupted_message, thread_counts)
from .formats import BY_BACKEND
from .manifest import BundleError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_probe"]:
        from .backends import probe_main

        return probe_main(argv[1], argv[2])
    if argv[:1] == ["_blocks_js"]:  # the web app's copy of the manifest blocks' defaults (blocks.py)
        from .blocks import web_module

        sys.stdout.write(web_module())
        return 0
    if argv[:1] == ["_bench_one"]:
        from .bench import run_one

        bundle, key, threads, runs, warmup = argv[1:6]
        try:
            print(json.dumps(run_one(bundle, key, int(threads), int(runs), int(warmup))))
        except BundleError as e:  # the parent shows this last stderr line as the row's reason
            print(e, file=sys.stderr)
            return 1
        return 0
    args = parser().parse_args(argv)
    if args.command == "animate":
        return _animate(args)
    return _bench(args)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are the one `error:` line and exit code every command uses."""

    def error(self, message: str):
        self.exit(BAD_INPUT, error_line(f"{self.prog}: {message} (--help lists the options)") + "\n")


def parser() -> argparse.ArgumentParser:
    """The runtime's command line: bench and animate, their options from commands.py."""
    parser = _Parser(prog="animetool-runtime", description="Run and benchmark animetool bundles.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    b = sub.add_parser("bench", help="latency, FPS, parity and peak RSS of every model x format x precision")
    b.add_argument("bundle", help="bundle folder or .zip")
    _options(b, BENCH, {"backend": {"action": "append", "help": f"{BENCH['backend'].help}: {', '.join(BY_BACKEND)}"},
                        "runs": {"type": int}, "warmup": {"type": int}})
    a = sub.add_parser("animate", help="real video (or image) in, anime video out")
    a.add_argument("input", help="video or image file")
    a.add_argument("-o", "--out", required=True, help="output .mp4 (or .png/.jpg for an image)")
    _options(a, ANIMATE, {"threads": {"type": int}, "max_people": {"type": int}, "size": {"type": int}})
    return parser


def _options(parser: argparse.ArgumentParser, options: dict, extra: dict) -> None:
    """--name for each shared option (commands.py: default, help and choices, as the toolchain's CLI shows them)."""
    for name, opt in options.items():
        kw = {"default": opt.default, "help": opt.help}
        if opt.default is False:
            kw = {"action": "store_true", "help": opt.help}
        if opt.choices:
            kw["choices"] = list(opt.choices)
        kw.update(extra.get(name, {}))
        parser.add_argument("--" + name.replace("_", "-"), dest=name, **kw)


def _fail(message: str, code: int = BAD_INPUT) -> int:
    print(error_line(message), file=sys.stderr)
    return code


def _bench(args) -> int:
    from .atomic import atomic_path
    from .bench import bench, format_table

    try:
        threads = thread_counts(args.threads)
        if args.save and not Path(args.save).parent.is_dir():
            raise ValueError(f"--save {args.save}: folder {Path(args.save).parent} does not exist")
        result = bench(args.bundle, args.backend, threads, args.runs, args.warmup,
                       on_row=(lambda r: None) if args.json else lambda r: print(f"  {r['model']} {r['format']} {r['precision']} "
                                                                      f"x{r['threads']}: {r['status']}", file=sys.stderr))
    except (BundleError, ValueError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("bench: interrupted", INTERRUPTED)
    if args.save:
        with atomic_path(args.save) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        d = result["device"]
        print(f"device: {d['cpu']} ({d['cores']} cores), {d['os']}, Python {d['python']}")
        print(format_table(result["rows"]))
    return SOME_FAILED if bench_failed(result) else 0


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
        say(error_line(str(e)))
        return BAD_INPUT
    except KeyboardInterrupt:
        say(error_line(interrupted_message(args.out)))
        return INTERRUPTED
    for w in result["warnings"]:
        say(f"warning: {w}")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        say(animate_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
