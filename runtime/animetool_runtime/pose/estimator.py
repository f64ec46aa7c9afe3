"""Frame in, people out: any pose entry of a bundle, with the pre-processing and decoder its manifest names."""
from __future__ import annotations

import numpy as np

from ..bundle import Model
from ..image import preprocess, to_image_coords
from ..manifest import BundleError
from . import multipose
from .decode import decode_heatmaps

DECODERS = ("heatmap-argmax", "multipose")


class PoseEstimator:
    """Wraps a loaded pose Model: __call__(rgb uint8 HxWx3) -> (P, 17, 3) keypoints (x, y, score) in image pixels."""

    def __init__(self, model: Model):
        e = model.entry
        if e.postprocess.decoder not in DECODERS:
            raise BundleError(f"{e.key}: decoder {e.postprocess.decoder!r} is not one of {', '.join(DECODERS)}")
        self.model, self.entry = model, e
        self.post = e.postprocess

    def maps(self, rgb: np.ndarray) -> list[np.ndarray]:
        """The model's raw outputs for a frame, in NCHW whatever the file's layout."""
        return self.model.run(preprocess(rgb, self.entry.preprocess), layout="NCHW")

    def decode(self, maps: list[np.ndarray]) -> np.ndarray:
        """Raw NCHW outputs -> (P, 17, 3) in model-input pixels."""
        if self.post.decoder == "heatmap-argmax":
            return decode_heatmaps(maps[0], self.post.stride)[None]
        named = dict(zip([s.name for s in self.entry.outputs], maps))
        return multipose.decode(named["centers"], named["heatmaps"], named["regression"], named["offsets"],
                                self.post.stride, self.post.center_threshold, self.post.max_people)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        return to_image_coords(self.decode(self.maps(rgb)), h, w, self.entry.preprocess)
