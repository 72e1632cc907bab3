"""The sparse-to-sparse baseline of the paper's ablation (S-S + H): keypoints are DETECTED in the
query too, described with the same hypercolumns, and matched to the map keypoints by mutual
nearest neighbour. It shows what sparse-to-dense matching gains when detection is hard (night)."""
from __future__ import annotations

import numpy as np
import torch

from ..features.base import DenseFeatures
from .nearest_neighbor import mutual_nearest_neighbors


def match_sparse_to_sparse(map_descriptors: torch.Tensor, query_keypoints: np.ndarray,
                           query_features: DenseFeatures, ratio: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """map_descriptors: (M, C); query_keypoints: (K, 2) pixels.
    Returns matched map rows (n,) and query pixels (n, 2)."""
    if len(query_keypoints) == 0 or len(map_descriptors) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2))
    query_desc = query_features.sample(query_keypoints).float().cpu()
    pairs = mutual_nearest_neighbors(map_descriptors.float().cpu(), query_desc, ratio=ratio)
    return pairs[:, 0], query_keypoints[pairs[:, 1]]
