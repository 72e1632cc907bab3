"""Weight-free global descriptors computed from any backbone's dense features (no NetVLAD needed)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

PYRAMID_LEVELS = (1, 2, 4)


def spatial_pyramid(hypercolumns: torch.Tensor, levels: tuple[int, ...] = PYRAMID_LEVELS) -> torch.Tensor:
    """(C, h, w) -> (C * sum(l*l),) L2-normalised global descriptor of mean-pooled, signed-sqrt cells.

    Mean descriptors over a 1x1, 2x2 and 4x4 grid of the image (each cell L2-normalised), concatenated and
    power-normalised; PCA-whitened by the map like NetVLAD's (retrieval/pca.py)."""
    parts = []
    for level in levels:
        pooled = F.adaptive_avg_pool2d(hypercolumns[None], level)[0]  # (C, level, level)
        pooled = F.normalize(pooled.reshape(pooled.shape[0], -1), dim=0)
        parts.append(pooled.T.reshape(-1))
    g = torch.cat(parts)
    g = torch.sign(g) * torch.sqrt(torch.abs(g))
    return F.normalize(g, dim=0)
