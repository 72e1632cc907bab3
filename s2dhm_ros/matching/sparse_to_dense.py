"""Sparse-to-dense matching (Section 4 of the paper): every sparse map descriptor is correlated with
every cell of the query's dense hypercolumns, the global maximum gives its 2D correspondent, and the
ratio test of Eq. (1) rejects ambiguous correlation maps.

All map keypoints of all retrieved references go through ONE batched matrix product per chunk
(P_chunk x C) @ (C x H*W), instead of the paper's one 1x1 convolution per keypoint map; the chunk
size bounds memory (chunk_size x H*W floats).

Ratio test, our reading of Eq. (1). As printed, top/rank-k > alpha holds for any alpha < 1 since
the sorted map is non-increasing, so it rejects nothing. The meaningful test — and the one the
public S2DHM code applies, up to squaring alpha — rejects a keypoint when the value at rank
k = floor(f * H * W) is too close to the peak:
    keep  <=>  C_sorted[k] <= alpha * C_sorted[0]
i.e. the peak must stand above the k-th best cell by a factor 1/alpha. (The public code compares
with alpha**2; set alpha = 0.81 to reproduce it.) f * H * W is the area the peak's own blob may
occupy; anything that correlates as well outside of it is a competing match. The k-th value is
found with torch.topk (partial selection, O(HW log k)), never a full sort.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ..config import MatcherConfig


@dataclass
class DenseMatches:
    """Correspondents of M sparse descriptors in the query's feature grid."""

    rows: torch.Tensor  # (M,) int64 grid row of the correlation peak
    cols: torch.Tensor  # (M,) int64 grid column of the peak
    peak: torch.Tensor  # (M,) float32 correlation at the peak
    kth: torch.Tensor  # (M,) float32 correlation at rank k = floor(f*H*W)
    keep: torch.Tensor  # (M,) bool, passed the ratio test
    timings: dict[str, float] = field(default_factory=dict)  # seconds: correspondence_maps, ratio_test


def ratio_test_rank(num_cells: int, fraction: float) -> int:
    """The rank k = floor(f * H * W) of Eq. (1), clamped to a valid index (0 < k < H*W)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"ratio test fraction f must be in [0, 1], got {fraction}")
    return min(max(int(fraction * num_cells), 1), num_cells - 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def match_sparse_to_dense(descriptors: torch.Tensor, hypercolumns: torch.Tensor,
                          config: MatcherConfig) -> DenseMatches:
    """descriptors: (M, C) L2-normalised map descriptors; hypercolumns: (C, H, W) L2-normalised query features.

    Runs on the device of `hypercolumns`; descriptors are moved there chunk by chunk.
    """
    C, H, W = hypercolumns.shape
    if descriptors.ndim != 2 or descriptors.shape[1] != C:
        raise ValueError(f"map descriptors have shape {tuple(descriptors.shape)}, the query features have {C} "
                         "channels: was the map built with another backbone?")
    device = hypercolumns.device
    dtype = torch.float16 if (config.half_precision and device.type == "cuda") else torch.float32
    dense = hypercolumns.reshape(C, H * W).to(dtype)
    k = ratio_test_rank(H * W, config.ratio_fraction)
    rows, cols, peaks, kths = [], [], [], []
    t_corr = t_ratio = 0.0
    for start in range(0, descriptors.shape[0], config.chunk_size):
        chunk = descriptors[start:start + config.chunk_size].to(device=device, dtype=dtype, non_blocking=True)
        t0 = time.perf_counter()
        scores = chunk @ dense  # (chunk, H*W) correspondence maps
        _sync(device)
        t1 = time.perf_counter()
        top = torch.topk(scores, k + 1, dim=1, sorted=True)  # partial selection, never a full sort
        _sync(device)
        t2 = time.perf_counter()
        t_corr += t1 - t0
        t_ratio += t2 - t1
        best = top.indices[:, 0]
        rows.append(best // W)
        cols.append(best % W)
        peaks.append(top.values[:, 0].float())
        kths.append(top.values[:, k].float())
    if not rows:
        empty = torch.zeros(0, device=device)
        return DenseMatches(empty.long(), empty.long(), empty, empty, empty.bool(),
                            {"correspondence_maps": 0.0, "ratio_test": 0.0})
    peak, kth = torch.cat(peaks), torch.cat(kths)
    keep = (kth <= config.ratio_alpha * peak) & (peak > 0)
    return DenseMatches(torch.cat(rows), torch.cat(cols), peak, kth, keep,
                        {"correspondence_maps": t_corr, "ratio_test": t_ratio})
