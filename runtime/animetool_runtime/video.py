"""Video and image files through PyAV, streamed: frames are decoded and encoded one at a time, so memory stays flat.

The writer encodes H.264 at the input's frame rate into a temporary file beside OUT and renames it when done; audio
packets are copied through unchanged (no re-encode).
"""
from __future__ import annotations

import functools
import os
import threading
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from .manifest import BundleError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class VideoError(BundleError):
    """A missing, unreadable or empty input, or an output that cannot be written: one line naming the file."""


@functools.lru_cache(maxsize=None)
def _av():
    """PyAV, imported and quietened once (write() asks for it every frame)."""
    try:
        import av
    except ImportError:
        raise VideoError("PyAV is needed for video: pip install 'animetool-runtime[video]'") from None
    # No Python log callback at all (PyAV's default, made explicit): FFmpeg's own warnings would bury our one-line
    # errors, and a Python callback takes the GIL from FFmpeg's decoder/x264 threads, which can deadlock against a
    # thread that holds the GIL while it waits on them (seen as a CI run that never finished).
    av.logging.set_level(None)
    return av


MIN_SIDE = 16  # pixels: below this no pose model finds anyone, and H.264 wants more than 1x1


class Reader:
    """An input video or image: rgb frames one at a time, and the audio packets met on the way (for the writer)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"{self.path}: no such file")
        av = _av()
        try:
            self.container = av.open(str(self.path))
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"{self.path}: not a readable video or image ({_reason(e)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(f"{self.path}: has no video stream")
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self.is_image = self.path.suffix.lower() in IMAGE_SUFFIXES
        rate = self.video.average_rate or self.video.guessed_rate or Fraction(30)
        self.fps = Fraction(rate).limit_denominator(100000)
        self.width, self.height = self.video.codec_context.width, self.video.codec_context.height
        if min(self.width, self.height) < MIN_SIDE:
            self.container.close()
            raise VideoError(f"{self.path}: {self.width}x{self.height} pixels is too small to show a person "
                             f"(at least {MIN_SIDE}x{MIN_SIDE})")
        self.frames_hint = int(self.video.frames or 0) or None  # container's count; may be missing

    def frames(self, on_audio=None) -> Iterator[np.ndarray]:
        """RGB uint8 HxWx3 frames in order; audio packets go to on_audio(packet) as they are demuxed."""
        av = _av()
        streams = [self.video] + ([self.audio] if self.audio is not None and on_audio else [])
        try:
            for packet in self.container.demux(*streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        on_audio(packet)
                    continue
                for frame in packet.decode():
                    yield frame.to_ndarray(format="rgb24")
        except (av.FFmpegError, ValueError) as e:
            raise VideoError(f"{self.path}: corrupt video data ({_reason(e)})") from None

    def close(self) -> None:
        self.container.close()


class Writer:
    """H.264 (yuv420p) at fps into a temp file, renamed to path on close(); .png/.jpg paths get one image instead."""

    def __init__(self, path: str | Path, width: int, height: int, fps: Fraction, audio=None, crf: int = 20,
                 preset: str = "veryfast"):
        av = _av()
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}{self.path.suffix}")  # PyAV reads the suffix
        self.is_image = self.path.suffix.lower() in IMAGE_SUFFIXES
        self.warnings: list[str] = []
        if self.is_image and self.path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            raise VideoError(f"{self.path}: write pictures as .png or .jpg")
        if not self.path.parent.is_dir():
            raise VideoError(f"{self.path}: no folder {self.path.parent} to write into")
        try:
            self.container = av.open(str(self.tmp), "w", format="image2" if self.is_image else None)
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"{self.path}: cannot write here ({_reason(e)})") from None
        if self.is_image:
            codec = "png" if self.path.suffix.lower() == ".png" else "mjpeg"
            self.stream = self.container.add_stream(codec, rate=1)
            self.stream.pix_fmt = "rgb24" if codec == "png" else "yuvj444p"
        else:
            self.stream = self.container.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": preset})
            self.stream.pix_fmt = "yuv420p"
            self.stream.thread_type = "AUTO"
        even = (width - width % 2, height - height % 2) if not self.is_image else (width, height)
        self.stream.width, self.stream.height = even
        if even != (width, height):
            self.warnings.append(f"{self.path}: H.264 needs even sizes: {width}x{height} cropped to {even[0]}x{even[1]}")
        self.audio = None
        if audio is not None and not self.is_image:
            try:
                self.audio = self.container.add_stream_from_template(audio)
            except (av.FFmpegError, ValueError) as e:
                self.warnings.append(f"audio not copied: {audio.codec_context.name} does not fit {self.path.suffix} ({_reason(e)})")
        self.count, self.time_base, self.lock = 0, 1 / Fraction(fps), threading.Lock()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, kind, error, tb) -> None:
        self.close() if kind is None else self.abort()

    def _mux(self, packets) -> None:
        """Mux under the lock (audio comes from the decoding thread); a failure names OUT, not the input being read."""
        try:
            with self.lock:
                self.container.mux(packets)
        except (_av().FFmpegError, OSError) as e:
            raise VideoError(f"{self.path}: cannot write ({_reason(e)})") from None

    def mux_audio(self, packet) -> None:
        if self.audio is not None:
            packet.stream = self.audio
            self._mux(packet)

    def write(self, rgb: np.ndarray) -> None:
        av = _av()
        rgb = rgb[:self.stream.height, :self.stream.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts, frame.time_base = self.count, self.time_base
        self._mux(self.stream.encode(frame))
        self.count += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file into place."""
        self.container.mux(self.stream.encode(None))
        self.container.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the partial file: OUT is either whole or absent."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the encoder may be in any state after an error; the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)


def _reason(e: Exception) -> str:
    """FFmpeg's own words for a failure (its strerror), without the file name it repeats."""
    return getattr(e, "strerror", None) or str(e)
