"""Sparse-to-dense matching (Section 4 of the paper): every sparse map descriptor is correlated with
every cell of the query's dense hypercolumns, the global maximum gives its 2D correspondent, and the
ratio test of Eq. (1) rejects ambiguous correlation maps.

All map keypoints of all retrieved references go through ONE batched matrix product per chunk
(P_chunk x C) @ (C x H*W), instead of the paper's one 1x1 convolution per keypoint map; the chunk
size bounds memory (chunk_size x H*W floats).

Ratio test, our reading of Eq. (1) (`MatcherConfig.ratio_test: paper`, the default). As printed,
top/rank-k > alpha holds for any alpha < 1 since the sorted map is non-increasing, so it rejects
nothing. The meaningful test rejects a keypoint when the value at rank k = floor(f * H * W)
(0-based) is too close to the peak:
    keep  <=>  C_sorted[k] <= alpha * C_sorted[0]  and  C_sorted[0] > 0
i.e. the peak must stand above the k-th best cell by a factor 1/alpha. f * H * W is the area the
peak's own blob may occupy; anything that correlates as well outside of it is a competing match.

`ratio_test: s2dhm` reproduces the public S2DHM code exactly (germain-hug/S2DHM
s2dhm/pose_prediction/exhaustive_search.py, `retrieve_argmax`): it takes `topk(int(f*H*W))` and
keeps a match when `alpha**2 * top[0] >= top[-1]`, i.e. it compares the value at 0-based rank
k - 1 (not k) with alpha**2 times the peak, and has no condition on the peak's sign:
    keep  <=>  C_sorted[k - 1] <= alpha**2 * C_sorted[0]
No alpha makes the paper reading equal to it (the rank differs by one; alpha = 0.81 in the
paper reading is NOT the public code). Either way the k-th value is found with torch.topk
(partial selection, O(HW log k)), never a full sort.

Sub-cell refinement (our addition, `MatcherConfig.subcell_refinement`): the paper places a match at
the centre of the peak cell, so a match is quantised to the cell size (4 px of the image shrunk to
512 px: 24 px on a 3072 px Strecha image). A parabola through the peak and its two neighbours,
along each axis, moves the match by at most half a cell; docs/embedded-default.md gives the
measured effect on pose accuracy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ..config import MatcherConfig


@dataclass
class DenseMatches:
    """Correspondents of M sparse descriptors in the query's feature grid."""

    rows: torch.Tensor  # (M,) grid row of the correlation peak (float64 with sub-cell refinement, else int64)
    cols: torch.Tensor  # (M,) grid column of the peak (idem)
    peak: torch.Tensor  # (M,) float32 correlation at the peak
    kth: torch.Tensor  # (M,) float32 correlation at the rank the ratio test compares (see `ratio_test_index`)
    keep: torch.Tensor  # (M,) bool, passed the ratio test
    # seconds: correspondence_maps, ratio_test, subcell_refinement (0 when off)
    timings: dict[str, float] = field(default_factory=dict)


def ratio_test_rank(num_cells: int, fraction: float) -> int:
    """The rank k = floor(f * H * W) of Eq. (1), clamped to a valid index (0 < k < H*W)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"ratio test fraction f must be in [0, 1], got {fraction}")
    return min(max(int(fraction * num_cells), 1), num_cells - 1)


RATIO_TESTS = ("paper", "s2dhm")


def ratio_test_index(num_cells: int, fraction: float, variant: str) -> int:
    """0-based rank of the sorted correlation map that the ratio test compares with the peak:
    k for the paper reading, k - 1 for the public S2DHM code (its `topk(k)[-1]`)."""
    k = ratio_test_rank(num_cells, fraction)
    if variant == "paper":
        return k
    if variant == "s2dhm":
        return k - 1
    raise ValueError(f"unknown matcher.ratio_test {variant!r}; choose one of {RATIO_TESTS}")


def ratio_test_keep(peak: torch.Tensor, kth: torch.Tensor, config: MatcherConfig) -> torch.Tensor:
    """(M,) bool: which correlation maps pass the ratio test (`kth` taken at `ratio_test_index`)."""
    if config.ratio_test == "s2dhm":
        return config.ratio_alpha ** 2 * peak >= kth
    return (kth <= config.ratio_alpha * peak) & (peak > 0)


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
    k = ratio_test_index(H * W, config.ratio_fraction, config.ratio_test)
    rows, cols, peaks, kths = [], [], [], []
    t_corr = t_ratio = t_refine = 0.0
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
        r, c = best // W, best % W
        if config.subcell_refinement:  # timed on its own: the paper's path has no such stage
            t3 = time.perf_counter()
            dr, dc = _parabola_offsets(scores, r, c, H, W)
            r, c = r.double() + dr, c.double() + dc
            _sync(device)
            t_refine += time.perf_counter() - t3
        rows.append(r)
        cols.append(c)
        peaks.append(top.values[:, 0].float())
        kths.append(top.values[:, k].float())
    if not rows:
        empty = torch.zeros(0, device=device)
        return DenseMatches(empty.long(), empty.long(), empty, empty, empty.bool(),
                            {"correspondence_maps": 0.0, "ratio_test": 0.0, "subcell_refinement": 0.0})
    peak, kth = torch.cat(peaks), torch.cat(kths)
    keep = ratio_test_keep(peak, kth, config)
    return DenseMatches(torch.cat(rows), torch.cat(cols), peak, kth, keep,
                        {"correspondence_maps": t_corr, "ratio_test": t_ratio, "subcell_refinement": t_refine})


def _parabola_offsets(scores: torch.Tensor, r: torch.Tensor, c: torch.Tensor, H: int, W: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertex of the parabola through (-1, 0, +1) neighbours of each peak, per axis, in [-0.5, 0.5].
    scores: (M, H*W); r, c: (M,) peak cells. Peaks on the border keep a zero offset on that axis."""
    def offset(prev_idx, next_idx, valid):
        s0 = scores.gather(1, (r * W + c)[:, None])[:, 0].double()
        sp = scores.gather(1, prev_idx.clamp(0, H * W - 1)[:, None])[:, 0].double()
        sn = scores.gather(1, next_idx.clamp(0, H * W - 1)[:, None])[:, 0].double()
        curvature = sp - 2 * s0 + sn
        d = torch.where(curvature < 0, 0.5 * (sp - sn) / curvature.clamp(max=-1e-12), torch.zeros_like(s0))
        return torch.where(valid, d.clamp(-0.5, 0.5), torch.zeros_like(d))
    dr = offset((r - 1) * W + c, (r + 1) * W + c, (r > 0) & (r < H - 1))
    dc = offset(r * W + c - 1, r * W + c + 1, (c > 0) & (c < W - 1))
    return dr, dc
