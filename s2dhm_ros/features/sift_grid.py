"""Upright SIFT descriptors at every cell of a regular grid, computed in torch (CPU or CUDA).

It reproduces OpenCV's `SIFT.compute` for keypoints of angle 0 and octave 0 at the grid's cell centres
(calcSIFTDescriptor in OpenCV's sift.simd.hpp), but as convolutions over the whole image instead of one
keypoint at a time:
* the image is blurred to SIFT's base scale (sigma 1.6 over an assumed 0.5), as OpenCV's first pyramid level;
* gradients are central differences (zero on the outermost pixel ring, which OpenCV skips too), and each
  pixel's magnitude is split between the two nearest of 8 orientation bins (linear, circular);
* a descriptor is 4 x 4 spatial bins of 1.5 * size pixels each around the centre; a pixel's weight in a bin is
  the Gaussian window exp(-(u^2 + v^2) / 8) (u, v: offset in bin widths) times the bilinear weights of its
  offset to the bin centres. Both factors are separable, so the 16 bins of all 8 orientations are two strided
  1-D convolutions (along x, then y) of the 8 orientation maps;
* each descriptor is clipped at 0.2 of its L2 norm and renormalised, like SIFT, then turned into RootSIFT.
Documented differences: no quantisation to 8 bits (OpenCV rounds 512 * value to an integer) and an exact
atan2 instead of OpenCV's fastAtan2 (about 0.3 degrees); test/test_dense_sift.py measures the agreement.

Centres: OpenCV rounds a keypoint to the nearest pixel, so the old OpenCV path put the cell (i, j) of stride 4,
whose centre (j + 0.5) * 4 - 0.5 = 4j + 1.5 lies between two pixels, at pixel 4j + 2 (round half to even).
This module keeps that pixel, so descriptors (and maps) agree with the OpenCV path cell for cell.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

BINS_PER_SIDE = 4  # d in OpenCV
ORIENTATION_BINS = 8  # n in OpenCV
BIN_WIDTH_PER_SIZE = 1.5  # SIFT_DESCR_SCL_FCTR (3) times the keypoint scale (size / 2)
MAGNITUDE_CLIP = 0.2  # SIFT_DESCR_MAG_THR
BASE_SIGMA, ASSUMED_SIGMA = 1.6, 0.5  # SIFT's sigma and SIFT_INIT_SIGMA (blur already in the image)


def root_sift_grid(gray: torch.Tensor, window_sizes: tuple[float, ...], stride: int) -> torch.Tensor:
    """RootSIFT of every cell of the `stride` grid of `gray` ((H, W) float, 0-255), one per keypoint size.

    Returns (128 * len(window_sizes), H // stride, W // stride): per size, channels in OpenCV's order (row bin,
    column bin, orientation), each cell's vector L1-normalised then square-rooted (unit L2 norm, or zero on a
    flat patch). The gradients are computed once for all sizes.
    """
    oriented = orientation_maps(blur_to_base_scale(gray.float()))
    per_size = []
    for size in window_sizes:
        hist = spatial_histograms(oriented, BIN_WIDTH_PER_SIZE * size, stride)
        hist = torch.minimum(hist, MAGNITUDE_CLIP * hist.norm(dim=0, keepdim=True))
        per_size.append(torch.sqrt(hist / hist.sum(0, keepdim=True).clamp_min(1e-12)))
    return torch.cat(per_size)


def blur_to_base_scale(gray: torch.Tensor) -> torch.Tensor:
    """OpenCV's createInitialImage without upsampling: GaussianBlur with its kernel size and BORDER_REFLECT_101."""
    sigma = math.sqrt(BASE_SIGMA ** 2 - ASSUMED_SIGMA ** 2)
    radius = (round(sigma * 4 * 2 + 1) | 1) // 2  # OpenCV's automatic size for float images
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-x ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).to(gray)
    padded = F.pad(gray[None, None], (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(F.conv2d(padded, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    return blurred[0, 0]


def orientation_maps(image: torch.Tensor) -> torch.Tensor:
    """(H, W) -> (8, H, W): gradient magnitude split linearly between the two nearest orientation bins.

    Orientation 0 points along +x and grows towards -y (OpenCV's dy = I(y - 1) - I(y + 1)).
    """
    dx = torch.zeros_like(image)
    dy = torch.zeros_like(image)
    dx[1:-1, 1:-1] = image[1:-1, 2:] - image[1:-1, :-2]
    dy[1:-1, 1:-1] = image[:-2, 1:-1] - image[2:, 1:-1]
    magnitude = torch.hypot(dx, dy)
    position = torch.remainder(torch.atan2(dy, dx), 2 * math.pi) * (ORIENTATION_BINS / (2 * math.pi))
    lower = position.floor()
    upper_share = position - lower
    lower = lower.long() % ORIENTATION_BINS  # a position rounded up to exactly 8 is bin 0
    maps = torch.zeros((ORIENTATION_BINS, *image.shape), dtype=image.dtype, device=image.device)
    maps.scatter_add_(0, lower[None], (magnitude * (1 - upper_share))[None])
    maps.scatter_add_(0, ((lower + 1) % ORIENTATION_BINS)[None], (magnitude * upper_share)[None])
    return maps


def bin_kernels(bin_width: float, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, int]:
    """(4, 2R + 1) weights of pixel offsets -R..R from the centre in each spatial bin along one axis, and R.

    Gaussian window (separable factor of exp(-(u^2 + v^2) / 8)) times the linear weight to the bin centre;
    zero beyond 2.5 bin widths, where OpenCV's rbin/cbin leave (-1, 4).
    """
    radius = math.ceil((BINS_PER_SIDE / 2 + 0.5) * bin_width)
    u = torch.arange(-radius, radius + 1, dtype=torch.float64) / bin_width  # offset in bin widths
    window = torch.exp(-u ** 2 / (BINS_PER_SIDE ** 2 * 0.5))
    position = u + BINS_PER_SIDE / 2 - 0.5  # OpenCV's rbin / cbin
    centres = torch.arange(BINS_PER_SIDE, dtype=torch.float64).view(-1, 1)
    weights = F.relu(1 - (position[None] - centres).abs()) * window[None]
    return weights.to(dtype=dtype, device=device), radius


def spatial_histograms(oriented: torch.Tensor, bin_width: float, stride: int) -> torch.Tensor:
    """(8, H, W) orientation maps -> (128, H // stride, W // stride) raw SIFT histograms at the cell centres."""
    n, height, width = oriented.shape
    h, w = height // stride, width // stride
    weights, radius = bin_kernels(bin_width, oriented.dtype, oriented.device)
    first = round((stride - 1) / 2)  # the pixel OpenCV rounds the first cell centre to
    # Output k of a stride-s correlation over the padded axis reads padded[s k + t] = original[s k + first + t - R].
    before = radius - first
    after_x = max(0, stride * (w - 1) + 2 * radius + 1 - width - before)
    after_y = max(0, stride * (h - 1) + 2 * radius + 1 - height - before)
    padded = F.pad(oriented[:, None], (before, after_x, before, after_y))  # orientations as the batch
    taps = 2 * radius + 1
    along_x = F.conv2d(padded, weights.view(BINS_PER_SIDE, 1, 1, taps), stride=(1, stride))[..., :w]
    along_y = F.conv2d(along_x.reshape(n * BINS_PER_SIDE, 1, -1, w), weights.view(BINS_PER_SIDE, 1, taps, 1),
                       stride=(stride, 1))[:, :, :h]
    hist = along_y.view(n, BINS_PER_SIDE, BINS_PER_SIDE, h, w)  # (orientation, column bin, row bin)
    return hist.permute(2, 1, 0, 3, 4).reshape(n * BINS_PER_SIDE ** 2, h, w)
