"""Weight-free dense descriptors: upright RootSIFT computed at every cell of the stride-4 grid.

This is the embedded default backbone (docs/embedded-default.md gives the measurements behind the
choice): it needs no download, follows the same sparse-to-dense contract as the VGG16 hypercolumns
(dense L2-normalised descriptors on a stride-4 grid of the image shrunk to <= 512 px), and like
hypercolumns it concatenates several receptive fields — here SIFT windows of several sizes.
The global descriptor is a spatial pyramid (1x1, 2x2, 4x4) of power-normalised mean descriptors,
PCA-whitened by the map like NetVLAD's.
"""
from __future__ import annotations

import hashlib

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..config import FeaturesConfig
from .base import DenseFeatures, pick_device, resize_max
from .global_descriptors import spatial_pyramid


class DenseSiftExtractor:
    name = "dense_sift"
    stride = 4

    def __init__(self, config: FeaturesConfig, window_sizes: tuple[float, ...] = (8.0, 16.0)):
        self.config = config
        self.window_sizes = window_sizes  # OpenCV keypoint "size" in resized pixels, one per receptive field
        self.device = pick_device(config.device)
        self._sift = cv2.SIFT_create()

    def fingerprint(self) -> str:
        params = f"{self.name}:stride={self.stride}:windows={self.window_sizes}:max={self.config.max_image_size}"
        return f"{self.name}:" + hashlib.sha256(params.encode()).hexdigest()[:16]

    def extract(self, image: np.ndarray) -> DenseFeatures:
        resized, scale = resize_max(image, self.config.max_image_size)
        gray = cv2.cvtColor(resized, cv2.COLOR_RGB2GRAY) if resized.ndim == 3 else resized
        h, w = gray.shape[0] // self.stride, gray.shape[1] // self.stride
        if h < 2 or w < 2:
            raise ValueError(f"image of {image.shape[1]}x{image.shape[0]} px is too small for dense features")
        # Cell centres in OpenCV coordinates (pixel centres at integers): (j + 0.5) * stride - 0.5.
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        xs = (xs + 0.5) * self.stride - 0.5
        ys = (ys + 0.5) * self.stride - 0.5
        per_window = []
        for size in self.window_sizes:
            keypoints = [cv2.KeyPoint(float(x), float(y), size, 0.0) for x, y in zip(xs.ravel(), ys.ravel())]
            _, desc = self._sift.compute(gray, keypoints)
            if desc is None or len(desc) != h * w:
                raise RuntimeError("OpenCV SIFT dropped dense keypoints; image too small?")
            desc = np.sqrt(desc / np.maximum(desc.sum(1, keepdims=True), 1e-12))  # RootSIFT
            per_window.append(desc)
        dense = torch.from_numpy(np.concatenate(per_window, axis=1)).to(self.device)  # (h*w, C)
        # RootSIFT vectors are all non-negative, so any two correlate at ~0.9 and Eq. (1)'s ratio
        # test sees flat correlation maps. Removing the image's mean descriptor centres the
        # correlations around 0 (measured: docs/embedded-default.md).
        dense = F.normalize(dense - dense.mean(0, keepdim=True), dim=1)
        hypercolumns = dense.T.reshape(-1, h, w).contiguous()
        return DenseFeatures(hypercolumns, spatial_pyramid(hypercolumns), scale, self.stride)

