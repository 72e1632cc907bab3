"""Descriptor nearest-neighbour matching (map building, and the sparse-to-sparse baseline)."""
from __future__ import annotations

import numpy as np
import torch


def mutual_nearest_neighbors(desc0: np.ndarray | torch.Tensor, desc1: np.ndarray | torch.Tensor,
                             ratio: float = 0.8, chunk: int = 8192) -> np.ndarray:
    """Mutual nearest neighbours of L2-normalised descriptors that pass Lowe's ratio test.

    desc0: (N0, D), desc1: (N1, D). Returns (K, 2) index pairs (i0, i1).
    """
    d0 = torch.as_tensor(desc0, dtype=torch.float32)
    d1 = torch.as_tensor(desc1, dtype=torch.float32)
    if len(d0) < 1 or len(d1) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    best0, second0, nn0 = [], [], []
    best1 = torch.full((len(d1),), -np.inf)
    nn1 = torch.zeros(len(d1), dtype=torch.long)
    for start in range(0, len(d0), chunk):
        sim = d0[start:start + chunk] @ d1.T  # (n, N1)
        top = sim.topk(2, dim=1)
        best0.append(top.values[:, 0])
        second0.append(top.values[:, 1])
        nn0.append(top.indices[:, 0])
        col_best, col_arg = sim.max(dim=0)
        better = col_best > best1
        best1[better] = col_best[better]
        nn1[better] = col_arg[better] + start
    best, second, nn = torch.cat(best0), torch.cat(second0), torch.cat(nn0)
    # ratio on distances: |a-b|^2 = 2 - 2 a.b for unit vectors
    dist_best = torch.sqrt(torch.clamp(2 - 2 * best, min=0))
    dist_second = torch.sqrt(torch.clamp(2 - 2 * second, min=0))
    idx0 = torch.arange(len(d0))
    keep = (nn1[nn] == idx0) & (dist_best <= ratio * dist_second)
    return torch.stack([idx0[keep], nn[keep]], dim=1).numpy()
