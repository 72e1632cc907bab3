"""Keypoint detection in reference images (map building): SIFT by default (no weights needed),
SuperPoint when its weights are given, as in the paper."""
from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from ..config import MapBuilderConfig
from .base import resize_max


class KeypointDetector(Protocol):
    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 (H, W, 3) -> keypoints (N, 2) in COLMAP pixels of that image, descriptors (N, D) float32."""
        ...


class SiftDetector:
    """OpenCV SIFT on the image shrunk to at most `max_image_size`; RootSIFT descriptors for map matching."""

    def __init__(self, max_keypoints: int = 4096, max_image_size: int = 1600):
        self.max_keypoints = max_keypoints
        self.max_image_size = max_image_size
        self._sift = cv2.SIFT_create(nfeatures=max_keypoints)

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        resized, (sx, sy) = resize_max(image, self.max_image_size)
        gray = cv2.cvtColor(resized, cv2.COLOR_RGB2GRAY) if resized.ndim == 3 else resized
        keypoints, desc = self._sift.detectAndCompute(gray, None)
        if desc is None:
            return np.zeros((0, 2)), np.zeros((0, 128), np.float32)
        keypoints, desc = keypoints[: self.max_keypoints], desc[: self.max_keypoints]
        xy = np.array([kp.pt for kp in keypoints], dtype=np.float64) + 0.5  # OpenCV -> COLMAP convention
        xy /= np.array([sx, sy])
        desc = np.sqrt(desc / np.maximum(desc.sum(1, keepdims=True), 1e-12)).astype(np.float32)
        xy, keep = np.unique(np.round(xy, 3), axis=0, return_index=True)  # SIFT repeats points per orientation
        return xy, desc[keep]


def create_detector(config: MapBuilderConfig) -> KeypointDetector:
    """The reference keypoint detector named by `config.detector`."""
    if config.detector == "sift":
        return SiftDetector(config.max_keypoints, config.detection_max_image_size)
    if config.detector == "superpoint":
        if not config.superpoint_weights:
            raise ValueError("detector 'superpoint' needs superpoint_weights (get them with `s2dhm download-weights`)")
        from .superpoint import SuperPointDetector
        return SuperPointDetector(config.superpoint_weights, max_keypoints=config.max_keypoints,
                                  max_image_size=config.detection_max_image_size, device=config.features.device)
    raise ValueError(f"unknown detector {config.detector!r}; choose 'sift' or 'superpoint'")
