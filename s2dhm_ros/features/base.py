"""What every dense backbone returns, and the exact mapping between its feature grid and image pixels.

Grid convention (documented choice, tested in test/test_grid.py): the image is resized by (sx, sy) =
(resized size / original size); features live on a grid of stride `stride` in the resized image, and
grid cell (row i, column j) covers resized pixels [stride*j, stride*(j+1)) x [stride*i, stride*(i+1)).
Its centre, in COLMAP pixel coordinates of the original image (pixel centres at +0.5), is
    x = (j + 0.5) * stride / sx,   y = (i + 0.5) * stride / sy
which is the public S2DHM code's "(i + 1/2) * cell size" with the exact per-axis scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class DenseFeatures:
    hypercolumns: torch.Tensor  # (C, h, w) float32, L2-normalised along C at every cell
    global_descriptor: torch.Tensor  # (D,) float32, L2-normalised, before PCA whitening
    scale: tuple[float, float]  # (sx, sy) = resized size / original size
    stride: int  # grid stride in resized pixels

    @property
    def grid_shape(self) -> tuple[int, int]:
        return int(self.hypercolumns.shape[1]), int(self.hypercolumns.shape[2])

    def grid_to_pixels(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Grid cells (i, j) -> (N, 2) original-image pixel coordinates (x, y) of the cells' centres."""
        sx, sy = self.scale
        x = (cols.to(torch.float64) + 0.5) * self.stride / sx
        y = (rows.to(torch.float64) + 0.5) * self.stride / sy
        return torch.stack([x, y], dim=-1)

    def pixels_to_grid(self, xy: np.ndarray) -> np.ndarray:
        """Inverse of `grid_to_pixels`, continuous: (N, 2) pixels (x, y) -> (N, 2) grid coordinates (col, row)."""
        sx, sy = self.scale
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack([xy[:, 0] * sx / self.stride - 0.5, xy[:, 1] * sy / self.stride - 0.5], axis=-1)

    def sample(self, xy: np.ndarray) -> torch.Tensor:
        """Descriptors at (N, 2) original-image pixels: bilinear on the grid, re-normalised. Returns (N, C)."""
        _, h, w = self.hypercolumns.shape
        g = torch.from_numpy(self.pixels_to_grid(xy)).to(self.hypercolumns)
        # align_corners=True: normalised -1 and +1 are the centres of the first and last cells.
        norm = torch.stack([g[:, 0] / max(w - 1, 1) * 2 - 1, g[:, 1] / max(h - 1, 1) * 2 - 1], dim=-1)
        out = F.grid_sample(self.hypercolumns[None], norm[None, None], mode="bilinear",
                            padding_mode="border", align_corners=True)[0, :, 0].T
        return F.normalize(out, dim=-1)


class DenseExtractor(Protocol):
    """A backbone: one forward gives dense hypercolumns and a global descriptor."""

    name: str
    stride: int

    def extract(self, image: np.ndarray) -> DenseFeatures:
        """image: RGB uint8 (H, W, 3) at original resolution."""
        ...

    def fingerprint(self) -> str:
        """Identifies the backbone and its weights (a checksum); stored in maps to catch mismatches."""
        ...


def resize_max(image: np.ndarray, max_size: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Shrink so that the longer side is at most `max_size` (never upscale). Returns the image and (sx, sy)."""
    h, w = image.shape[:2]
    factor = min(1.0, max_size / max(h, w))
    if factor == 1.0:
        return image, (1.0, 1.0)
    new_w, new_h = max(1, round(w * factor)), max(1, round(h * factor))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return resized, (new_w / w, new_h / h)


def resize_rgb(image: np.ndarray, max_size: int) -> tuple[np.ndarray, tuple[float, float]]:
    """`resize_max` for the backbones that read colour (VGG16, the learned ones): refuses gray or RGBA input
    before spending time on it."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    return resize_max(image, max_size)


def grid_size(image: np.ndarray, resized: np.ndarray, stride: int, min_cells: int = 2) -> tuple[int, int]:
    """(rows, columns) of the stride grid over the resized image. Refuses an image whose grid has fewer than
    `min_cells` on a side: no correlation peak (or a network's coarsest map) could be computed on it."""
    h, w = resized.shape[0] // stride, resized.shape[1] // stride
    if min(h, w) < min_cells:
        raise ValueError(f"image of {image.shape[1]}x{image.shape[0]} px is too small for dense features "
                         f"(fewer than {min_cells} cells of {stride} px on a side)")
    return h, w


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
