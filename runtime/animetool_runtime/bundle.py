"""Load a bundle (folder or .zip) or a single model file and run it with float arrays in the manifest's layout."""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from .backends import backend_format, backend_name, open_session
from .formats import FORMATS, Format, for_file
from .manifest import (MANIFEST, BundleError, Manifest, ModelEntry, TensorSpec, model_files, sha256_path,
                       to_layout)

PRECISION_ORDER = ("int8", "fp16", "fp32")  # a phone runtime prefers the smallest file that passed parity


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float input -> the dtype the file declares, with the manifest's scale and zero-point for integer tensors."""
    dtype = np.dtype(spec.dtype)
    if spec.scale is not None and dtype.kind in "iu":
        info = np.iinfo(dtype)
        q = np.asarray(x, np.float32) / np.float32(spec.scale)  # in place from here: big generator inputs
        q += np.float32(spec.zero_point)
        np.rint(q, out=q)
        np.clip(q, info.min, info.max, out=q)
        return q.astype(dtype)
    return np.asarray(x, dtype=dtype)


def dequantize(y: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.scale is not None and y.dtype.kind in "iu":
        return (y.astype(np.float32) - spec.zero_point) * np.float32(spec.scale)
    return y.astype(np.float32, copy=False)


def _same_io(path: Path, session, entry: ModelEntry) -> None:
    """The file's tensors are the ones the manifest describes (count, dtype, static shape): else feeding it by the
    manifest would fail deep inside a backend."""
    for kind, got, want in (("input", session.inputs, entry.inputs), ("output", session.outputs, entry.outputs)):
        if len(got) != len(want):
            raise BundleError(f"{path}: the file has {len(got)} {kind}(s), the manifest describes {len(want)}")
        for g, w in zip(got, want):
            static = all(d > 0 for d in g.shape)
            if g.dtype != w.dtype or (static and list(g.shape) != list(w.shape)):
                raise BundleError(f"{path}: {kind} {w.name!r} is {g.dtype} {list(g.shape)} in the file, "
                                  f"{w.dtype} {list(w.shape)} in the manifest")


def _spatial(a: np.ndarray, layout: str, ys: slice | int, xs: slice | int) -> np.ndarray:
    return a[:, :, ys, xs] if layout == "NCHW" else a[:, ys, xs]


def _feed(x: np.ndarray, spec: TensorSpec, layout: str, box: tuple | None) -> np.ndarray:
    """One input as the file takes it: quantized, in the file's layout; with a box (see Model.run), only the inside
    is worked on."""
    outside = None  # a pixel outside the box: every channel's value everywhere outside it
    if box is not None and x.ndim == 4 and spec.scale is not None and np.dtype(spec.dtype).kind in "iu":
        y0, y1, x0, x1 = box
        h, w = x.shape[2:] if layout == "NCHW" else x.shape[1:3]
        if y1 <= y0 or x1 <= x0 or y0 > 0 or x0 > 0:
            outside = (0, 0)
        elif y1 < h or x1 < w:
            outside = (h - 1, w - 1)
    if outside is None:  # no box, a float input, or a box that is the whole canvas
        return np.ascontiguousarray(to_layout(quantize(x, spec), layout, spec.layout))
    feed = np.empty(to_layout(np.empty(x.shape, np.int8), layout, spec.layout).shape, np.dtype(spec.dtype))
    corner = quantize(_spatial(x, layout, *outside), spec)  # (N, C)
    feed[...] = corner[:, :, None, None] if spec.layout == "NCHW" else corner[:, None, None, :]
    if y1 > y0 and x1 > x0:
        _spatial(feed, spec.layout, slice(y0, y1), slice(x0, x1))[...] = to_layout(
            quantize(_spatial(x, layout, slice(y0, y1), slice(x0, x1)), spec), layout, spec.layout)
    return feed


class Model:
    """One manifest entry opened with its backend: run(inputs) takes and returns float32 arrays."""

    def __init__(self, entry: ModelEntry, path: Path, threads: int | None = None, check_sha: bool = True):
        if not path.exists():
            raise BundleError(f"{path}: model file listed in the manifest is missing")
        if check_sha and entry.sha256 and sha256_path(path) != entry.sha256:
            raise BundleError(f"{path}: sha256 does not match the manifest (file changed or corrupt)")
        self.entry, self.path = entry, path
        self.backend = FORMATS[entry.format].backend
        self.session = open_session(self.backend, path, threads)
        self.version = getattr(self.session, "version", self.backend)
        _same_io(path, self.session, entry)

    @property
    def inputs(self) -> list[TensorSpec]:
        return self.entry.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self.entry.outputs

    def run(self, *inputs: np.ndarray, layout: str | None = None, box: tuple | None = None) -> list[np.ndarray]:
        """Float inputs in the file's layout (or in `layout`, e.g. "NCHW", for inputs and outputs alike) -> float outputs.

        With `layout`, the transposes happen on the quantized int8 tensors, 4x less memory to move than float.
        box: (y0, y1, x0, x1), a promise that outside it every channel of every input is constant
        (character.conditioning(with_box=True)): integer inputs are then quantized and moved only inside it, the
        rest filled per channel, with the same result.
        """
        if len(inputs) != len(self.entry.inputs):
            raise ValueError(f"{self.entry.key} takes {len(self.entry.inputs)} input(s), got {len(inputs)}")
        for x, spec in zip(inputs, self.entry.inputs):
            want = list(to_layout(np.empty(spec.shape, np.int8), spec.layout, layout or spec.layout).shape)
            if list(x.shape) != want:
                raise ValueError(f"{self.entry.key}: input {spec.name} must be {want} ({layout or spec.layout}), got {list(x.shape)}")
        feeds = [_feed(x, s, layout or s.layout, box) for x, s in zip(inputs, self.entry.inputs)]
        try:
            ys = self.session.run(feeds)
        except Exception as e:  # the inputs matched the manifest, so this is the file's fault (or the backend's)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise BundleError(f"{self.path}: {self.backend} failed running this model ({first})") from None
        return [dequantize(np.ascontiguousarray(to_layout(np.asarray(y), s.layout, layout or s.layout)), s)
                for y, s in zip(ys, self.entry.outputs)]

    __call__ = run


class Bundle:
    """A bundle's manifest plus lazily opened models; model() picks one entry per model name for the chosen backend."""

    def __init__(self, root: Path, manifest: Manifest, backend: str | None, precision: str | None, threads: int | None):
        self.root, self.manifest, self.threads = root, manifest, threads
        self.backend = backend_name(backend) if backend else None
        self.precision = precision
        self._open: dict[str, Model] = {}
        self.extracted: tempfile.TemporaryDirectory | None = None  # a zip's files, kept while the bundle lives

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(e.name for e in self.manifest.models))

    def entry(self, name: str | None = None, task: str | None = None) -> ModelEntry:
        cands = [e for e in self.manifest.models if (name is None or e.name == name) and (task is None or e.task == task)]
        if not cands:
            raise BundleError(f"{self.root}: bundle has no model {name or task!r} (it has {', '.join(self.names)})")
        fmts = _formats(self.backend)
        others = sorted({e.precision for e in cands} - set(PRECISION_ORDER))  # e.g. a bare file's "unknown", Core ML's w8
        precs = [self.precision] if self.precision else list(PRECISION_ORDER) + others
        ranked = [e for f in fmts for p in precs for e in cands if e.format == f and e.precision == p]
        passed = [e for e in ranked if not (e.parity and e.parity.get("status") == "parity-failed")]
        if not (passed or ranked):
            want = f"format {'/'.join(fmts)}" + (f", precision {self.precision}" if self.precision else "")
            raise BundleError(f"{self.root}: no {cands[0].name} entry with {want} in the bundle")
        return (passed or ranked)[0]

    def model(self, name: str | None = None, task: str | None = None) -> Model:
        e = self.entry(name, task)
        if e.key not in self._open:
            self._open[e.key] = Model(e, self.root / e.file, self.threads)
        return self._open[e.key]

    def open_entry(self, entry: ModelEntry) -> Model:
        return Model(entry, self.root / entry.file, self.threads)


def cache_root() -> Path:
    """Where animetool keeps fetched and made files: $ANIMETOOL_CACHE, else ~/.cache/animetool."""
    return Path(os.environ.get("ANIMETOOL_CACHE") or Path.home() / ".cache" / "animetool")


def default_bundle_path(digest: str, fmt: str) -> Path:
    """Where `animetool animate` caches the default models exported to one format (digest: of their weights and specs)."""
    return cache_root() / "bundles" / f"default-{digest}-{fmt}"


def default_bundle(backend: str | None = None) -> Path:
    """The newest default-model bundle in the cache for this backend's format (any installed format when None)."""
    fmts = _formats(backend)
    root = default_bundle_path("*", "*").parent
    found = [p for f in fmts for p in root.glob(default_bundle_path("*", f).name) if (p / MANIFEST).is_file()]
    if not found:
        raise BundleError(f"no --bundle given and no default bundle in {root} for {'/'.join(fmts)}: pass --bundle, or "
                          "make one with `animetool animate` (it exports the default models once)")
    return max(found, key=lambda p: (p / MANIFEST).stat().st_mtime)


def _formats(backend: str | None) -> list[str]:
    """The formats to pick from: the backend's, or (None) every format whose backend is installed, in FORMATS order."""
    return [backend_format(backend).name] if backend else [f.name for f in FORMATS.values() if f.installed()]


def _unzip(path: Path) -> tempfile.TemporaryDirectory:
    """The zip extracted into a temporary folder that lives as long as the Bundle holding it (removed when that is
    collected, or at exit), not until the process ends: a long run that loads many zips keeps one at a time."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise BundleError(f"{path}: not a readable zip bundle ({e})") from None
    if MANIFEST not in zf.namelist():
        raise BundleError(f"{path}: zip has no {MANIFEST} at its root (not an animetool bundle)")
    folder = tempfile.TemporaryDirectory(prefix="animetool-bundle-")
    with zf:
        zf.extractall(folder.name)
    return folder


def _single_file(path: Path, threads: int | None) -> Manifest:
    """A bare model file becomes a one-entry manifest read from the file itself (no pre/post-processing known)."""
    fmt: Format | None = for_file(path.name)
    if fmt is None:
        raise BundleError(f"{path}: unknown model file type (expected {', '.join(f.suffix for f in FORMATS.values())}, "
                          "a bundle folder or .zip)")
    sess = open_session(fmt.backend, path, threads)
    specs = [[TensorSpec(s.name, s.shape, s.dtype, fmt.layout, s.scale, s.zero_point) for s in group]
             for group in (sess.inputs, sess.outputs)]
    entry = ModelEntry(name=path.stem, task="generic", format=fmt.name, precision="unknown", file=path.name, sha256="",
                       inputs=specs[0], outputs=specs[1])
    return Manifest(models=[entry])


def _contained(root: Path, rel: object, where: str) -> None:
    """A path the manifest names must stay inside the bundle: relative, no '..', and no link that leads out."""
    if not isinstance(rel, str) or not rel.strip():
        raise BundleError(f"{where} must name a file inside the bundle, got {rel!r}")
    if rel.startswith(("/", "\\")) or PureWindowsPath(rel).is_absolute() or ".." in PurePosixPath(rel.replace("\\", "/")).parts:
        raise BundleError(f"{where} {rel!r} points outside the bundle (absolute path or '..'); refused")
    target, inside = root / rel, root.resolve()
    for f in ([target] + (model_files(target) if target.exists() else [])):
        if not f.resolve().is_relative_to(inside):
            raise BundleError(f"{where} {rel!r} leads outside the bundle through a link ({f} -> {f.resolve()}); refused")


def check_contract(root: Path, manifest: Manifest) -> Manifest:
    """Every file and reference a bundle's manifest names lies inside the bundle (Manifest.read has checked the rest,
    sha256 included): the runtime never reads or runs a file the bundle does not hold and vouch for."""
    for i, e in enumerate(manifest.models):
        where = f"{root / MANIFEST}: models[{i}]"
        _contained(root, e.file, f"{where}.file")
        if e.reference is not None:
            _contained(root, e.reference, f"{where}.reference")
    return manifest


def load(path: str | Path, backend: str | None = None, precision: str | None = None, threads: int | None = None) -> Bundle:
    """Open a bundle folder, a bundle .zip, or one .onnx/.tflite/.xml/.mlpackage file."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"{path}: no such file or folder")
    if path.is_dir() and not path.name.endswith(".mlpackage"):
        return Bundle(path, check_contract(path, Manifest.read(path / MANIFEST)), backend, precision, threads)
    if path.suffix == ".zip":
        folder = _unzip(path)
        root = Path(folder.name)
        bundle = Bundle(root, check_contract(root, Manifest.read(root / MANIFEST)), backend, precision, threads)
        bundle.extracted = folder
        return bundle
    return Bundle(path.parent, _single_file(path, threads), backend, precision, threads)
