"""Weight-free dense descriptors: upright RootSIFT computed at every cell of the stride-4 grid.

This is the embedded default backbone (docs/embedded-default.md gives the measurements behind the
choice): it needs no download, follows the same sparse-to-dense contract as the VGG16 hypercolumns
(dense L2-normalised descriptors on a stride-4 grid of the image shrunk to <= 512 px), and like
hypercolumns it concatenates several receptive fields — here SIFT windows of several sizes.
The global descriptor is a spatial pyramid (1x1, 2x2, 4x4) of power-normalised mean descriptors,
PCA-whitened by the map like NetVLAD's. The SIFT descriptors are computed in torch (sift_grid.py), on the
configured device; they agree with OpenCV's SIFT.compute at the same cells (cosine > 0.998).
"""
from __future__ import annotations

import hashlib

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..config import FeaturesConfig
from .base import DenseFeatures, grid_size, pick_device, resize_max
from .global_descriptors import spatial_pyramid
from .sift_grid import root_sift_grid

# Bumped whenever the descriptor's computation changes, so that maps built by an older one are refused.
# 2: torch implementation (sift_grid.py) instead of OpenCV's SIFT.compute; no 8-bit quantisation.
IMPLEMENTATION = 2


class DenseSiftExtractor:
    name = "dense_sift"
    stride = 4

    def __init__(self, config: FeaturesConfig, window_sizes: tuple[float, ...] = (8.0, 16.0)):
        self.config = config
        self.window_sizes = window_sizes  # SIFT keypoint "size" in resized pixels, one per receptive field
        self.device = pick_device(config.device)

    def fingerprint(self) -> str:
        params = (f"{self.name}:stride={self.stride}:windows={self.window_sizes}:max={self.config.max_image_size}"
                  f":implementation={IMPLEMENTATION}")
        return f"{self.name}:" + hashlib.sha256(params.encode()).hexdigest()[:16]

    def extract(self, image: np.ndarray) -> DenseFeatures:
        resized, scale = resize_max(image, self.config.max_image_size)
        gray = cv2.cvtColor(resized, cv2.COLOR_RGB2GRAY) if resized.ndim == 3 else resized
        grid_size(image, gray, self.stride)
        root_sift = root_sift_grid(torch.from_numpy(gray).to(self.device), self.window_sizes, self.stride)
        # RootSIFT vectors are all non-negative, so any two correlate at ~0.9 and Eq. (1)'s ratio
        # test sees flat correlation maps. Removing the image's mean descriptor centres the
        # correlations around 0 (measured: docs/embedded-default.md).
        hypercolumns = F.normalize(root_sift - root_sift.mean((1, 2), keepdim=True), dim=0)
        return DenseFeatures(hypercolumns, spatial_pyramid(hypercolumns), scale, self.stride)

