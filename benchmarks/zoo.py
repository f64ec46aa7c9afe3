"""The field's architectures, written by others, as a user brings them: `animetool export benchmarks.zoo:NAME`.

torchvision and timm (the `zoo` extra) with random weights, since none can be downloaded here; each factory seeds its
weights and re-estimates batch-norm statistics on real photo crops (scikit-image's samples, ImageNet-normalised like
the `--mean/--std` the benchmark exports with), else random BN statistics give logits near 1e-10 and relative parity
means nothing.

PyPI offers torchvision 0.28 (the release for torch 2.13) only as a CUDA build: on a machine without CUDA its compiled
ops library does not load and `import torchvision` fails with "operator torchvision::nms does not exist". `_torchvision()`
defines those ops' schemas first, with plain-PyTorch CPU kernels for nms (all a classifier or SSDlite needs), and only
here, never in the runtime.
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable

import numpy as np
import torch
from torch import nn

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
_LIB: torch.library.Library | None = None
# The schemas of torchvision 0.28's compiled ops (torchvision/csrc/ops/*.cpp), so its Python side imports.
_SCHEMAS = [
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "SymInt batch_size, SymInt channels, SymInt height, SymInt width, int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float input_scale, int input_zero_point, float rois_scale, "
    "int rois_zero_point, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, "
    "bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) "
    "-> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, "
    "SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, "
    "SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, "
    "SymInt groups, SymInt offset_groups, bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
]


def _nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression, as torchvision's CPU kernel: indices kept, by descending score."""
    order = scores.argsort(descending=True)
    x1, y1, x2, y2 = dets.unbind(1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    suppressed = torch.zeros(len(dets), dtype=torch.bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
        h = (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0)
        inter = w * h
        suppressed |= inter / (area[i] + area - inter) > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def _torchvision():
    """import torchvision, defining its compiled ops first where the CUDA wheel's library cannot load."""
    global _LIB
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as e:
        if "torchvision::" not in str(e) or _LIB is not None:
            raise
    for name in [m for m in list(sys.modules) if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the half-imported package, so the next import starts clean
    _LIB = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        _LIB.define(schema)
    _LIB.impl("nms", _nms, "CPU")
    tv = importlib.import_module("torchvision")
    tv.extension._has_ops = lambda: True  # ops.nms checks this before calling torch.ops.torchvision.nms
    return tv


def _photo_batches(size: int, count: int = 64, batch: int = 16) -> list[torch.Tensor]:
    """ImageNet-normalised random crops of scikit-image's sample photos (animetool's default calibration source)."""
    from animetool_runtime.blocks import Preprocess

    from animetool.data.calib import sample_inputs

    pre = Preprocess.from_dict({"kind": "image", "size": [size, size], "range": [0, 1], **IMAGENET})
    xs = np.concatenate(sample_inputs((1, 3, size, size), pre, count, seed=123))
    return [torch.from_numpy(xs[i:i + batch]) for i in range(0, count, batch)]


def _calibrated(model: nn.Module, size: int = 224) -> nn.Module:
    """Batch-norm running statistics re-estimated on real crops (a cumulative mean over the batches): the model in
    eval mode (dropout stays off) with only its BN layers training; a detector's backbone alone (its heads have no BN,
    and decoding thousands of random boxes would take minutes)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.eval()
    if bns:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        run = model.backbone if hasattr(model, "anchor_generator") else model
        with torch.no_grad():
            for x in _photo_batches(size):
                run(x)
    return model.eval()


class _Output(nn.Module):
    """One tensor out of a model that returns a dict (torchvision's segmentation: {"out": ...})."""

    def __init__(self, model: nn.Module, key: str):
        super().__init__()
        self.model, self.key = model, key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[self.key]


class _Detections(nn.Module):
    """SSDlite as a user exports it: the whole detector, boxes and scores of the first image (data-dependent NMS)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        det = self.model(x)[0]
        return det["boxes"], det["scores"]


class _DetectorHeads(nn.Module):
    """The workaround for a data-dependent detector: export the network (backbone + heads: box regressions and class
    logits per anchor) and decode and suppress outside it, as Ultralytics and MediaPipe models do."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone, self.head = model.backbone, model.head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(list(self.backbone(x).values()))
        return out["bbox_regression"], out["cls_logits"]


def _tv(name: str, wrap: Callable[[nn.Module], nn.Module] = lambda m: m, **kw) -> Callable[[], nn.Module]:
    def factory() -> nn.Module:
        tv = _torchvision()
        torch.manual_seed(0)
        home = tv.models if "." not in name else importlib.import_module(f"torchvision.models.{name.rsplit('.', 1)[0]}")
        side = 320 if "320" in name else 224
        return wrap(_calibrated(getattr(home, name.rsplit(".", 1)[-1])(weights=None, **kw), side))
    factory.__name__ = name.rsplit(".", 1)[-1]
    return factory


def _timm(name: str) -> Callable[[], nn.Module]:
    def factory() -> nn.Module:
        _torchvision()  # timm imports torchvision
        import timm

        torch.manual_seed(0)
        return _calibrated(timm.create_model(name, pretrained=False))
    factory.__name__ = name
    return factory


mobilenet_v2 = _tv("mobilenet_v2")
mobilenet_v3_small = _tv("mobilenet_v3_small")
mobilenet_v3_large = _tv("mobilenet_v3_large")
efficientnet_b0 = _tv("efficientnet_b0")
resnet18 = _tv("resnet18")
shufflenet_v2_x1_0 = _tv("shufflenet_v2_x1_0")
squeezenet1_1 = _tv("squeezenet1_1")
regnet_x_400mf = _tv("regnet_x_400mf")
convnext_tiny = _tv("convnext_tiny")
lraspp_mobilenet_v3_large = _tv("segmentation.lraspp_mobilenet_v3_large", lambda m: _Output(m, "out"),
                                weights_backbone=None, num_classes=21)
ssdlite320_mobilenet_v3_large = _tv("detection.ssdlite320_mobilenet_v3_large", _Detections, weights_backbone=None)
ssdlite320_heads = _tv("detection.ssdlite320_mobilenet_v3_large", _DetectorHeads, weights_backbone=None)
ssdlite320_heads.__name__ = "ssdlite320_heads"
mobilevit_xxs = _timm("mobilevit_xxs")
efficientvit_b0 = _timm("efficientvit_b0")
fastvit_t8 = _timm("fastvit_t8")
lcnet_050 = _timm("lcnet_050")
vit_tiny_patch16_224 = _timm("vit_tiny_patch16_224")  # a ViT of a phone's size (torchvision's smallest, B/16, is 86M)

# name -> input side: the classifiers' training size; SSDlite's 320, MobileViT's 256. Cheapest first, ConvNeXt-T last.
MODELS = {f.__name__: size for f, size in [
    (squeezenet1_1, 224), (lcnet_050, 224), (mobilenet_v3_small, 224), (shufflenet_v2_x1_0, 224),
    (mobilenet_v2, 224), (mobilenet_v3_large, 224), (regnet_x_400mf, 224), (efficientnet_b0, 224), (resnet18, 224),
    (lraspp_mobilenet_v3_large, 224), (mobilevit_xxs, 256), (efficientvit_b0, 224), (fastvit_t8, 224),
    (vit_tiny_patch16_224, 224), (ssdlite320_mobilenet_v3_large, 320), (ssdlite320_heads, 320), (convnext_tiny, 224)]}
