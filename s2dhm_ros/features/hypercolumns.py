"""Dense VGG16 hypercolumns and the NetVLAD global descriptor from one forward pass (the paper's backbone).

Hypercolumns follow the public S2DHM code (germain-hug/S2DHM s2dhm/network/network.py,
`compute_hypercolumn`, with `hypercolumn_layers = [14, 17, 21, 24, 28]` from configs/network/network.gin):
the inputs of conv3_3, conv4_1, conv4_3, conv5_1 and conv5_3 (relu3_2, pool3, relu4_2, pool4, relu5_2;
256 + 256 + 512 + 512 + 512 = 2048 channels) are bilinearly upsampled with align_corners=True to the
stride-4 map of relu3_2, concatenated and L2-normalised per location.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import FeaturesConfig
from .base import DenseFeatures, grid_size, pick_device, resize_rgb
from .netvlad import VGG16NetVLAD
from .vgg16 import forward_taps, preprocess
from ..io.checksum import sha256_file
from .weights import DOWNLOAD_HINT, load_vgg16_netvlad


def hypercolumns_from_taps(taps: list[torch.Tensor]) -> torch.Tensor:
    """Five (1, C_i, h_i, w_i) maps -> (sum C_i, h, w) unit-norm hypercolumns on the first map's grid."""
    size = taps[0].shape[-2:]
    up = [t if t.shape[-2:] == size else F.interpolate(t, size=size, mode="bilinear", align_corners=True)
          for t in taps]
    return F.normalize(torch.cat(up, dim=1)[0], dim=0)


class VGGHypercolumnExtractor:
    """DenseExtractor (see base.py) over VGG16-NetVLAD weights: S2DHM `weights.pth.tar` or Pitts30K_struct.mat.

    Without weights it refuses to run unless `allow_random_init=True` (tests, timing benchmarks),
    which gives a seeded random network whose fingerprint says so.
    """

    name = "vgg16"
    stride = 4

    def __init__(self, config: FeaturesConfig | None = None, *, weights: str | Path | None = None,
                 max_image_size: int | None = None, device: str | None = None,
                 allow_random_init: bool = False, seed: int = 0):
        config = config or FeaturesConfig(backbone="vgg16")
        weights = weights if weights is not None else config.weights
        self.max_image_size = max_image_size if max_image_size is not None else config.max_image_size
        self.device = pick_device(device if device is not None else config.device)
        self.weights = Path(weights) if weights else None
        self._fingerprint: str | None = None
        if self.weights is not None:
            model = load_vgg16_netvlad(self.weights)
        elif allow_random_init:
            torch.manual_seed(seed)
            model = VGG16NetVLAD()
            self._fingerprint = f"{self.name}:seeded:{seed}"
        else:
            raise ValueError("the vgg16 backbone needs weights: set features.weights to the S2DHM "
                             f"weights.pth.tar or Pitts30K_struct.mat ({DOWNLOAD_HINT}), or use the "
                             "weight-free 'dense_sift' backbone")
        self.model = model.to(self.device).eval()

    def fingerprint(self) -> str:
        """Backbone name + sha256 of the weights file (hashed once, lazily: the files are large)."""
        if self._fingerprint is None:
            self._fingerprint = f"{self.name}:{sha256_file(self.weights)}"
        return self._fingerprint

    @torch.no_grad()
    def extract(self, image: np.ndarray) -> DenseFeatures:
        """RGB uint8 (H, W, 3) -> hypercolumns (2048, h, w) at stride 4 of the resized image + NetVLAD vector."""
        resized, scale = resize_rgb(image, self.max_image_size)
        grid_size(image, resized, self.stride, min_cells=16 // self.stride)  # conv5_3 (stride 16) needs >= 1 px
        x = preprocess(torch.from_numpy(np.ascontiguousarray(resized)).to(self.device),
                       self.model.mean, self.model.std)
        taps, conv5_3 = forward_taps(self.model.encoder, x)
        hypercolumns = hypercolumns_from_taps(taps)
        global_descriptor = self.model.global_descriptor(conv5_3)[0]
        return DenseFeatures(hypercolumns, global_descriptor, scale, self.stride)
