"""`animetool demo`: serve the phone web app (android_demo/web) with a bundle, on this machine and the local network.

The app reads the bundle's manifest and model files over HTTP at /bundle/; its JS and wasm come from the npm packages
in android_demo/web/node_modules (installed once with `npm ci`), never from a CDN.
"""
from __future__ import annotations

import functools
import http.server
import json
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import numpy as np
import typer

from animetool.console import console, fail

WEB = Path(__file__).resolve().parents[1] / "android_demo" / "web"
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
         ".webmanifest": "application/manifest+json", ".onnx": "application/octet-stream",
         ".tflite": "application/octet-stream", ".png": "image/png", ".html": "text/html; charset=utf-8"}


class DemoError(Exception):
    """A one-line reason the demo cannot be served."""


def web_root() -> Path:
    """The web app's folder with its npm packages installed (npm ci from the committed lockfile when they are not)."""
    if not (WEB / "index.html").is_file():
        raise DemoError(f"{WEB}: the web app is not there (animetool demo runs from a checkout of the repository)")
    if not (WEB / "node_modules" / "onnxruntime-web").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            raise DemoError(f"{WEB / 'node_modules'}: missing; install Node.js and run `npm ci --prefix {WEB}`")
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, capture_output=True, text=True, timeout=900)
        if proc.returncode:
            raise DemoError(f"{WEB}: npm ci failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return WEB


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files: /bundle/... from the bundle folder, everything else from the web app; no caching by the browser
    (the app's service worker keeps its own offline copy)."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def __init__(self, *args, bundle: Path, **kw):
        self.bundle = bundle
        super().__init__(*args, **kw)

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/bundle/"):
            rel = Path(*[p for p in clean[len("/bundle/"):].split("/") if p not in ("", ".", "..")])
            path = (self.bundle / rel).resolve()
            return str(path if path.is_relative_to(self.bundle) else self.bundle / "not-found")  # no link out
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, *args) -> None:  # the command prints its own lines
        pass


def lan_address() -> str | None:
    """This machine's address on the local network (the one a phone on the same Wi-Fi can reach), if any."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            addr = s.getsockname()[0]
        return None if addr.startswith("127.") else addr
    except OSError:
        return None


def serve(bundle: Path, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A started server (in a daemon thread) for the web app and bundle; server.server_address has the port."""
    root = web_root()
    if not (bundle / "manifest.json").is_file():
        raise DemoError(f"{bundle}: no manifest.json (not an animetool bundle folder)")
    from animetool_runtime import BundleError, load

    try:
        load(bundle)  # the manifest's schema, and every file it names inside the bundle
    except BundleError as e:
        raise DemoError(str(e)) from None
    handler = functools.partial(Handler, directory=str(root), bundle=bundle.resolve())
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        raise DemoError(f"{host}:{port}: cannot listen ({e.strerror}); pass another --port") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fake_camera(src: Path, out: Path, width: int = 640, height: int = 360) -> Path:
    """A video as a y4m file (4:2:0, BT.601 full range) that Chromium plays as its camera with
    --use-fake-device-for-media-stream --use-file-for-fake-video-capture=OUT: the app tested on real footage."""
    from animetool_runtime.atomic import atomic_path
    from animetool_runtime.image import resize_bilinear
    from animetool_runtime.video import Reader

    reader = Reader(src)
    half = lambda c: c.reshape(height // 2, 2, width // 2, 2).mean((1, 3))  # noqa: E731
    try:
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            f.write(f"YUV4MPEG2 W{width} H{height} F{reader.fps.numerator}:{reader.fps.denominator} Ip A1:1 C420jpeg\n".encode())
            for rgb in reader.frames():
                x = resize_bilinear(rgb, height, width)
                y = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
                f.write(b"FRAME\n")
                for plane in (y, half((x[..., 2] - y) * 0.564 + 128), half((x[..., 0] - y) * 0.713 + 128)):
                    f.write(np.clip(plane + 0.5, 0, 255).astype(np.uint8).tobytes())
    finally:
        reader.close()
    return out


def demo(
    bundle: Path = typer.Argument(..., help="bundle folder or .zip with a pose model and a generator in ONNX and/or "
                                            "TFLite (LiteRT.js reads float I/O: fp32/fp16 .tflite, int8 .onnx)"),
    host: str = typer.Option("0.0.0.0", help="address to listen on; 0.0.0.0 lets a phone on the same network in"),
    port: int = typer.Option(8000, help="port (0: any free one)"),
    as_json: bool = typer.Option(False, "--json", help="print the addresses as JSON, then serve"),
) -> None:
    """Serve the phone web app with BUNDLE: open the printed address on a phone (camera: see the README)."""
    from animetool_runtime.bundle import load
    from animetool_runtime.manifest import BundleError

    try:
        server = serve(load(bundle).root, host, port)
    except (DemoError, BundleError) as e:
        fail(str(e))
    port = server.server_address[1]
    addr = lan_address() if host == "0.0.0.0" else None
    local, lan = f"http://127.0.0.1:{port}/", (f"http://{addr}:{port}/" if addr else None)
    if as_json:
        print(json.dumps({"local": local, "lan": lan, "bundle": str(bundle), "web": str(WEB)}), flush=True)
    else:
        console.print(f"serving the animetool demo with {bundle}\n  on this machine: {local}"
                      + (f"\n  on a phone on the same network: {lan} (video files; the camera needs localhost or "
                         f"https: `adb reverse tcp:{port} tcp:{port}`, then open {local} on the phone)" if lan else "")
                      + "\nCtrl-C stops it.", highlight=False)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
