"""The phone web app's speed in headless Chromium (Pixel 7 profile, no GPU): frames per second of wall time with the
Sports2D demo (two people) as the camera, for each browser runtime and generator size.

    python benchmarks/web_demo_bench.py [--bundle bundles/default] [--seconds 20]

Each row is one Chromium run of android_demo/web/tests/harness.mjs (the same harness the tests use) against
`animetool demo`'s server: the app picks the bundle's best entry its runtime can feed (onnxruntime-web: int8;
LiteRT.js: fp32, it has no int8 tensors and ran fp16 slower; one fp16 row shows that). Camera frames are 640x360. Writes benchmarks/results/web-demo-<cpu>-<cores>.*
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from animetool.demo import WEB, fake_camera, serve, web_root
from animetool.data.footage import fetch_sports2d_demo
from animetool_runtime import device

RESULTS = Path(__file__).parent / "results"
RUNS = [("onnx", 128, None), ("onnx", 256, None), ("tflite", 128, None), ("tflite", 256, None), ("tflite", 128, "fp16")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=Path("bundles/default"))
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    web_root()
    server = serve(args.bundle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cam = fake_camera(fetch_sports2d_demo(), Path(tmp) / "cam.y4m")
        # the app's own choice of files per runtime and size, plus LiteRT.js on the fp16 files it passes over
        for backend, size, precision in RUNS:
            out = Path(tmp) / f"{backend}-{size}-{precision}.json"
            spec = {"url": url, "mode": "camera", "backend": backend, "size": size, "camera": str(cam),
                    "screenshot": str(Path(tmp) / "shot.png"), "measure_s": args.seconds, "out": str(out),
                    **({"precision": precision} if precision else {})}
            proc = subprocess.run(["node", "tests/harness.mjs", json.dumps(spec)], cwd=WEB, capture_output=True,
                                  text=True, timeout=900)
            result = json.loads(out.read_text())
            m, st = result.get("measured", {}), result.get("state", {})
            rows.append({"backend": backend, "size": size, "models": st.get("models"), "fps": round(m.get("fps", 0), 2),
                         "frames": m.get("frames"), "seconds": round(m.get("seconds", 0), 1),
                         "status": "ok" if proc.returncode == 0 else proc.stdout.strip().splitlines()[-1]})
            print(rows[-1], flush=True)
    server.shutdown()
    chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    info = {**device.describe(), "browser": chromium}
    name = f"web-demo-{device.slug(info)}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"device": info, "rows": rows}, indent=1))
    lines = [f"# web demo in headless {chromium}, {info['cpu']} ({info['cores']} cores)", "",
             "`python benchmarks/web_demo_bench.py`: Sports2D demo (two people) as a 640x360 camera, Pixel 7 profile.", "",
             "| runtime | generator px | pose + generator entries | FPS | frames | seconds |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['backend']} | {r['size']} | {r['models']['pose'] if r['models'] else '-'} + "
              f"{r['models']['generator'] if r['models'] else '-'} | {r['fps']} | {r['frames']} | {r['seconds']} |" for r in rows]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
