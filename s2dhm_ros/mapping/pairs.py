"""Which reference images to match with each other: spatial neighbours by known pose."""
from __future__ import annotations

import numpy as np

from ..geometry import Pose


def pairs_from_poses(poses: list[Pose], num_neighbors: int, max_distance_m: float,
                     max_angle_deg: float) -> list[tuple[int, int]]:
    """Each image paired with its `num_neighbors` closest images (camera centres) whose optical axes
    differ by less than `max_angle_deg`. Returns unique (i, j) pairs with i < j."""
    centers = np.array([p.center for p in poses])
    axes = np.array([p.R[2] for p in poses])  # optical axis (camera z) in world coordinates
    dist = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
    cos = np.clip(axes @ axes.T, -1, 1)
    valid = (dist <= max_distance_m) & (np.degrees(np.arccos(cos)) <= max_angle_deg)
    np.fill_diagonal(valid, False)
    pairs = set()
    for i in range(len(poses)):
        candidates = np.flatnonzero(valid[i])
        for j in candidates[np.argsort(dist[i, candidates])][:num_neighbors]:
            pairs.add((min(i, int(j)), max(i, int(j))))
    return sorted(pairs)
