"""The paper's unoptimised matching path, kept only to measure the speed-up of `match_sparse_to_dense`.

Section 4 / Table 4 of the paper: per retrieved reference image, the correspondence maps come from
one convolution of the query's dense hypercolumns with that reference's sparse hypercolumns (P 1x1
kernels); the ratio test then visits the maps one keypoint at a time in Python ("Ratio Test
(non-optimized)", 169 ms per image). The public S2DHM code (pose_prediction/exhaustive_search.py,
`retrieve_argmax`) loops over keypoints the same way and reads each result back with `.item()`;
it selects with a per-map `topk`, the issue asks for a full sort per map, which is what is done here.
The full sort is the slower choice (measured on a 2-core CPU: 0.83 ms per 12 288-cell map against 0.065 ms
for the per-map `topk`, see benchmarks/README.md), so this path is slower than the public code's loop, and
(unlike that code, which uses one `torch.mm` per reference) it computes the maps with a convolution.

Ranks, thresholds and the grid convention are those of `matching.sparse_to_dense` (rank k =
floor(f*H*W), keep <=> C_sorted[k] <= alpha * C_sorted[0] and peak > 0), so that both paths give
the same matches and only the time differs (tested in test/test_speed_benchmark.py). The
convolution rounds differently from the matrix product (~1e-7): where two cells of a map tie to
that precision the argmax can differ, and the ratio test rejects such flat maps in both paths.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..config import MatcherConfig
from ..matching.sparse_to_dense import DenseMatches, ratio_test_index, ratio_test_keep


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def match_paper_path(reference_descriptors: Sequence[torch.Tensor], hypercolumns: torch.Tensor,
                     config: MatcherConfig) -> DenseMatches:
    """reference_descriptors: one (P_r, C) tensor per retrieved reference; hypercolumns: (C, H, W).

    Returns the matches of all references concatenated in order (integer grid cells, no sub-cell
    refinement), with timings "correspondence_maps" (the convolutions) and "ratio_test" (the loop).
    """
    C, H, W = hypercolumns.shape
    device = hypercolumns.device
    query = hypercolumns[None].float()  # (1, C, H, W)
    k = ratio_test_index(H * W, config.ratio_fraction, config.ratio_test)
    rows: list[int] = []
    cols: list[int] = []
    peaks: list[float] = []
    kths: list[float] = []
    keep: list[bool] = []
    t_corr = t_ratio = 0.0
    for descriptors in reference_descriptors:
        if descriptors.ndim != 2 or descriptors.shape[1] != C:
            raise ValueError(f"reference descriptors have shape {tuple(descriptors.shape)}, the query has {C} channels")
        kernels = descriptors.to(device=device, dtype=torch.float32)[:, :, None, None]  # (P, C, 1, 1)
        t0 = time.perf_counter()
        # TF32 off: the paper's GPU (GTX 1080 Ti) had none, and the optimised path does not use it either.
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            maps = F.conv2d(query, kernels)[0]  # (P, H, W) correspondence maps
        _sync(device)
        t1 = time.perf_counter()
        for window in maps:  # one keypoint at a time, as the public code
            values, order = torch.sort(window.reshape(-1), descending=True)
            best = int(order[0].item())
            rows.append(best // W)
            cols.append(best % W)
            peaks.append(values[0].item())
            kths.append(values[k].item())
            keep.append(bool(ratio_test_keep(values[0], values[k], config).item()))
        t2 = time.perf_counter()
        t_corr += t1 - t0
        t_ratio += t2 - t1
    return DenseMatches(torch.tensor(rows, dtype=torch.int64), torch.tensor(cols, dtype=torch.int64),
                        torch.tensor(peaks, dtype=torch.float32), torch.tensor(kths, dtype=torch.float32),
                        torch.tensor(keep, dtype=torch.bool),
                        {"correspondence_maps": t_corr, "ratio_test": t_ratio})
