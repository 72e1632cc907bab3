"""Which reference images to match with each other: spatial neighbours by known pose."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..geometry import Pose


def pairs_from_poses(poses: list[Pose], num_neighbors: int, max_distance_m: float,
                     max_angle_deg: float) -> list[tuple[int, int]]:
    """Each image paired with its `num_neighbors` closest images (camera centres) within `max_distance_m` whose
    optical axes differ by at most `max_angle_deg`. Returns unique (i, j) pairs with i < j, sorted.

    A k-d tree finds the candidates, so memory and time grow with the images times their neighbours, not with
    the square of the images; distance ties are broken by the lower image index."""
    centers = np.array([p.center for p in poses], dtype=np.float64)
    axes = np.array([p.R[2] for p in poses], dtype=np.float64)  # optical axis (camera z) in world coordinates
    neighbours = cKDTree(centers).query_ball_point(centers, max_distance_m)
    pairs = set()
    for i, candidates in enumerate(neighbours):
        candidates = np.array([j for j in candidates if j != i], dtype=np.int64)
        if not len(candidates):
            continue
        dist = np.linalg.norm(centers[candidates] - centers[i], axis=1)
        angle_ok = np.degrees(np.arccos(np.clip(axes[candidates] @ axes[i], -1, 1))) <= max_angle_deg
        ok = (dist <= max_distance_m) & angle_ok
        candidates, dist = candidates[ok], dist[ok]
        for j in candidates[np.lexsort((candidates, dist))][:num_neighbors]:
            pairs.add((min(i, int(j)), max(i, int(j))))
    return sorted(pairs)
