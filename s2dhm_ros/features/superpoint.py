"""SuperPoint keypoints (and descriptors) for the map's reference images, as the paper uses.

The network follows the published `superpoint_v1.pth` layout (magicleap/SuperPointPretrainedNetwork
demo_superpoint.py, `SuperPointNet`): a plain state dict with `conv1a` .. `conv4b` (shared VGG-style
encoder, 64-64-128-128 channels, three 2x2 max-pools), `convPa`/`convPb` (detector head, 65 = 8x8 cells
+ "no keypoint" bin) and `convDa`/`convDb` (256-d descriptor head), each `.weight` / `.bias`.
Detection follows the usual post-processing (also hloc's defaults): softmax over the 65 bins, drop the
dustbin, unfold to full resolution, non-maximum suppression of radius 4, threshold 0.005, 4 px border
removal, top-k by score; descriptors are bilinearly sampled at the keypoints' pixel centres.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import pick_device, resize_max
from .weights import check_state_dict, read_torch_file


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


class SuperPointNet(nn.Module):
    """(B, 1, H, W) gray in [0, 1] -> scores (B, 65, H/8, W/8), unit-norm descriptors (B, 256, H/8, W/8)."""

    def __init__(self):
        super().__init__()
        c1, c2, c3, c4, c5, d1 = 64, 64, 128, 128, 256, 256
        self.conv1a, self.conv1b = _conv3x3(1, c1), _conv3x3(c1, c1)
        self.conv2a, self.conv2b = _conv3x3(c1, c2), _conv3x3(c2, c2)
        self.conv3a, self.conv3b = _conv3x3(c2, c3), _conv3x3(c3, c3)
        self.conv4a, self.conv4b = _conv3x3(c3, c4), _conv3x3(c4, c4)
        self.convPa, self.convPb = _conv3x3(c4, c5), nn.Conv2d(c5, 65, kernel_size=1)
        self.convDa, self.convDb = _conv3x3(c4, c5), nn.Conv2d(c5, d1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        blocks = ((self.conv1a, self.conv1b), (self.conv2a, self.conv2b),
                  (self.conv3a, self.conv3b), (self.conv4a, self.conv4b))
        for i, (a, b) in enumerate(blocks):
            x = F.relu(b(F.relu(a(x))))
            if i < 3:
                x = F.max_pool2d(x, 2, 2)
        semi = self.convPb(F.relu(self.convPa(x)))
        desc = F.normalize(self.convDb(F.relu(self.convDa(x))), dim=1)
        return semi, desc


def load_superpoint(path: str | Path) -> SuperPointNet:
    """superpoint_v1.pth (a plain state dict, read with weights_only=True) -> SuperPointNet."""
    state = read_torch_file(path)
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a SuperPoint state dict")
    model = SuperPointNet()
    check_state_dict(model.state_dict(), state, str(path), "SuperPoint (superpoint_v1)")
    model.load_state_dict(state)
    return model.eval()


@dataclass
class SuperPointFeatures:
    xy: np.ndarray  # (N, 2) float64, COLMAP pixels (centres at +0.5) of the input image
    scores: np.ndarray  # (N,) float32, descending
    descriptors: np.ndarray  # (N, 256) float32, unit norm


class SuperPointDetector:
    """Keypoint detector of map building (the KeypointDetector protocol of keypoints.py)."""

    def __init__(self, weights: str | Path | SuperPointNet, max_keypoints: int = 4096, nms_radius: int = 4,
                 threshold: float = 0.005, remove_borders: int = 4, max_image_size: int = 1600,
                 device: str = "auto"):
        self.device = pick_device(device)
        net = weights if isinstance(weights, SuperPointNet) else load_superpoint(weights)
        self.net = net.to(self.device).eval()
        self.max_keypoints, self.nms_radius, self.threshold = max_keypoints, nms_radius, threshold
        self.remove_borders, self.max_image_size = remove_borders, max_image_size

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 (H, W, 3) -> keypoints (N, 2) in COLMAP pixels of the image, descriptors (N, 256)."""
        features = self.extract(image)
        return features.xy, features.descriptors

    @torch.no_grad()
    def extract(self, image: np.ndarray) -> SuperPointFeatures:
        """Keypoints, scores and descriptors of an RGB uint8 (H, W, 3) or gray (H, W) image."""
        resized, (sx, sy) = resize_max(image, self.max_image_size)
        gray = cv2.cvtColor(resized, cv2.COLOR_RGB2GRAY) if resized.ndim == 3 else resized
        if min(gray.shape) < 8:
            raise ValueError(f"image of {image.shape[1]}x{image.shape[0]} px is too small for SuperPoint")
        x = torch.from_numpy(np.ascontiguousarray(gray)).to(self.device, torch.float32)[None, None] / 255.0
        semi, desc = self.net(x)
        scores = F.pixel_shuffle(F.softmax(semi, dim=1)[:, :-1], 8)[0, 0]  # (8h, 8w): bin r*8+c -> offset (r, c)
        rows, cols, values = self._select(scores)
        # Pixel (row, col) of the resized image has COLMAP centre (col + 0.5, row + 0.5).
        xy_resized = torch.stack([cols, rows], dim=-1).to(torch.float32) + 0.5
        size = torch.tensor([scores.shape[1], scores.shape[0]], dtype=torch.float32, device=self.device)
        grid = (xy_resized / size * 2 - 1)[None, None]  # align_corners=False: -1/+1 are the outer edges
        sampled = F.grid_sample(desc, grid, mode="bilinear", align_corners=False)[0, :, 0].T
        xy = xy_resized.double().cpu().numpy() / np.array([sx, sy])
        return SuperPointFeatures(xy, values.cpu().numpy(), F.normalize(sampled, dim=1).cpu().numpy())

    def _select(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """NMS, threshold, border removal, top-k of a (H, W) score map -> rows, cols, scores (descending)."""
        r = self.nms_radius
        peaks = scores == F.max_pool2d(scores[None, None], 2 * r + 1, stride=1, padding=r)[0, 0]
        keep = peaks & (scores > self.threshold)
        b = self.remove_borders
        if b > 0:
            keep[:b], keep[-b:], keep[:, :b], keep[:, -b:] = False, False, False, False
        rows, cols = torch.nonzero(keep, as_tuple=True)
        values = scores[rows, cols]
        order = torch.argsort(values, descending=True)[: self.max_keypoints]
        return rows[order], cols[order], values[order]
