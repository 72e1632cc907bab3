"""Learned dense backbones whose weights ship in registry packages (no download): XFeat, DISK, ALIKED.

All follow the sparse-to-dense contract of base.py: the image is shrunk to <= max_image_size px, the network
gives one descriptor per cell of a regular grid (cell (i, j) = resized pixels [s*j, s*(j+1)) x [s*i, s*(i+1))),
L2-normalised, plus a weight-free global descriptor (the spatial pyramid of global_descriptors.py, PCA-whitened
by the map). Model definitions are kornia's (pure PyTorch, no torchvision); weights are read from the packages
listed in packaged_weights.py with `torch.load(weights_only=True)` and checked key by key.

| backbone | grid | descriptor per cell |
| --- | --- | --- |
| xfeat | stride 8 (the network's own) | 64-d fused feature map (XFeat's dense descriptors) |
| disk | stride 4 | 128-d full-resolution DISK descriptors averaged over each 4x4 cell, minus the image mean |
| aliked | stride 4 | 128-d: ALIKED-n16's SDDH descriptor head run with a "keypoint" at every cell centre |

Zero-centring (subtracting the image's mean descriptor, as for dense RootSIFT) is applied where it was measured
to help the ratio test (DISK: F@20 0.33 -> 0.43 on 22 day/night pairs, /work/shared/notes); XFeat and the SDDH
descriptors discriminate without it. ALIKED's raw backbone map fails the ratio test (it keeps no match), its
SDDH head does not; the head is trained for sparse keypoints, its dense use is our choice and is measured in
docs/embedded-default.md.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import FeaturesConfig
from ..io.checksum import sha256_file
from .base import DenseFeatures, grid_size, pick_device, resize_rgb
from .global_descriptors import PYRAMID_LEVELS, spatial_pyramid
from .packaged_weights import PACKAGED_WEIGHTS
from .weights import check_state_dict, read_torch_file

SDDH_CHUNK = 4096  # cell centres described per SDDH call (bounds memory)


def _load_checked(model: nn.Module, state: Mapping, source: str, what: str, not_stored: str = "") -> nn.Module:
    """`model` with `state` loaded, after check_state_dict has named any missing or mis-shaped tensor. Keys under
    the prefix `not_stored` (buffers computed at construction, absent from checkpoints) are left as built."""
    expected = {k: v for k, v in model.state_dict().items() if not (not_stored and k.startswith(not_stored))}
    check_state_dict(expected, state, source, what)
    model.load_state_dict(state, strict=not not_stored)
    return model


def _xfeat(state: Mapping, source: str) -> nn.Module:
    from kornia.feature import XFeatModel

    return _load_checked(XFeatModel(), state, source, "XFeat (xfeat.pt)")


def _xfeat_dense(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1], H and W multiples of 32 -> (64, H/8, W/8)."""
    return model(x)[0][0]


def _disk(state: Mapping, source: str) -> nn.Module:
    from kornia.feature import DISK

    state = state.get("extractor") if isinstance(state, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError(f"{source} has no 'extractor' state dict (not disk-depth-save.pth)")
    return _load_checked(DISK(), state, source, "DISK (disk-depth-save.pth)")


def _disk_dense(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W), multiples of 16 -> (128, H/4, W/4): full-resolution descriptors averaged per 4x4 cell."""
    _, descriptors = model.heatmap_and_dense_descriptors(x)
    return F.avg_pool2d(descriptors, 4)[0]


def _aliked(state: Mapping, source: str) -> nn.Module:
    from kornia.feature import ALIKED

    # the keypoint detector's coordinate grid ("dkd.") is a buffer computed at construction
    return _load_checked(ALIKED("aliked-n16"), state, source, "ALIKED-n16 (aliked-n16.pth)", not_stored="dkd.")


def _aliked_dense(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) -> (128, H/4, W/4): the SDDH head's descriptor of a keypoint at every stride-4 cell centre."""
    feature_map, _ = model.extract_dense_map(x)
    _, _, H, W = feature_map.shape
    h, w = H // 4, W // 4
    rows, cols = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    # SDDH takes keypoints in [-1, 1] with -1 / +1 the centres of the first / last pixel (align_corners=True);
    # the centre of cell (i, j) is pixel ((j + 0.5) * 4 - 0.5, (i + 0.5) * 4 - 0.5).
    xy = torch.stack([(cols.reshape(-1) * 4 + 1.5) / (W - 1), (rows.reshape(-1) * 4 + 1.5) / (H - 1)], -1) * 2 - 1
    descriptors = [model.desc_head(feature_map, [chunk])[0][0] for chunk in xy.split(SDDH_CHUNK)]
    return torch.cat(descriptors).T.reshape(-1, h, w)


@dataclass(frozen=True)
class LearnedNetwork:
    stride: int  # grid stride in resized pixels
    multiple: int  # the input's sides are padded (bottom/right, replicated) to a multiple of this
    zero_centre: bool  # subtract the image's mean descriptor before normalising
    build: Callable[[Mapping, str], nn.Module]  # checkpoint contents, file name -> model in eval mode
    dense: Callable[[nn.Module, torch.Tensor], torch.Tensor]  # model, (1, 3, H, W) -> (C, H/stride, W/stride)


NETWORKS = {
    "xfeat": LearnedNetwork(8, 32, False, _xfeat, _xfeat_dense),
    "disk": LearnedNetwork(4, 16, True, _disk, _disk_dense),
    "aliked": LearnedNetwork(4, 32, False, _aliked, _aliked_dense),
}


class LearnedDenseExtractor:
    """DenseExtractor (base.py) for the backbones of NETWORKS, weights from their package or features.weights."""

    def __init__(self, config: FeaturesConfig):
        if config.backbone not in NETWORKS:
            raise ValueError(f"{config.backbone!r} is not a learned backbone; choose one of {sorted(NETWORKS)}")
        self.name = config.backbone
        self.network = NETWORKS[self.name]
        self.stride = self.network.stride
        self.max_image_size = config.max_image_size
        self.device = pick_device(config.device)
        self.weights = Path(config.weights) if config.weights else PACKAGED_WEIGHTS[self.name].locate()
        self.model = self.network.build(read_torch_file(self.weights), str(self.weights)).to(self.device).eval()
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """Backbone, sha256 of the weights, and every setting that changes the descriptors."""
        if self._fingerprint is None:
            params = (f"stride={self.stride}:centre={self.network.zero_centre}:max={self.max_image_size}"
                      f":pyramid={PYRAMID_LEVELS}")
            self._fingerprint = (f"{self.name}:{sha256_file(self.weights)}:"
                                 + hashlib.sha256(params.encode()).hexdigest()[:16])
        return self._fingerprint

    @torch.inference_mode()
    def extract(self, image: np.ndarray) -> DenseFeatures:
        """RGB uint8 (H, W, 3) -> (C, h, w) unit descriptors on the stride grid of the resized image."""
        resized, scale = resize_rgb(image, self.max_image_size)
        h, w = grid_size(image, resized, self.stride)
        height, width = resized.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(resized)).to(self.device).permute(2, 0, 1)[None].float() / 255
        m = self.network.multiple
        x = F.pad(x, (0, -width % m, 0, -height % m), mode="replicate")
        dense = self.network.dense(self.model, x)[:, :h, :w].float()  # cells of the padding dropped
        if self.network.zero_centre:
            dense = dense - dense.mean(dim=(1, 2), keepdim=True)
        hypercolumns = F.normalize(dense, dim=0).contiguous()
        return DenseFeatures(hypercolumns, spatial_pyramid(hypercolumns), scale, self.stride)
