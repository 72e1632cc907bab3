"""Training tuples from poses: which references are positives and which are negatives of a query.

As in NetVLAD (Arandjelovic et al., CVPR 2016) and S2DHM's RobotCar training (tuples "assembled using the
provided GPS and INS data"): a reference is a positive of a query when its camera is within `positive_distance_m`
and its optical axis within `positive_angle_deg` of the query's (a pose-based proxy for co-visibility), and a
negative when it is farther than `negative_distance_m`. References in between are neither: they may or may not
show the same place, so they never enter the loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import Pose


@dataclass
class TupleConfig:
    positive_distance_m: float = 10.0  # NetVLAD: positives within 10 m
    positive_angle_deg: float = 45.0  # and looking the same way (NetVLAD's street-view panoramas need no angle)
    negative_distance_m: float = 25.0  # NetVLAD: negatives farther than 25 m


@dataclass
class Tuples:
    """Per query index: the indices of its positive and of its negative references."""

    positives: list[np.ndarray]
    negatives: list[np.ndarray]

    def usable(self) -> np.ndarray:
        """Indices of the queries that have at least one positive and one negative."""
        return np.array([i for i, (p, n) in enumerate(zip(self.positives, self.negatives)) if len(p) and len(n)],
                        dtype=np.int64)


def centers_and_axes(poses: list[Pose]) -> tuple[np.ndarray, np.ndarray]:
    """cam_from_world poses -> camera centres (N, 3) and unit optical axes (N, 3) in the world frame."""
    centers = np.stack([p.center for p in poses])
    axes = np.stack([p.R[2] for p in poses])  # R^T (0, 0, 1): the camera z axis in world coordinates
    return centers, axes


def make_tuples(queries: list[Pose], references: list[Pose], config: TupleConfig,
                same_set: bool = False) -> Tuples:
    """Positives and negatives of every query among the references; `same_set`: a query is not its own positive."""
    if config.negative_distance_m < config.positive_distance_m:
        raise ValueError(f"negative_distance_m ({config.negative_distance_m}) must be >= positive_distance_m "
                         f"({config.positive_distance_m})")
    qc, qa = centers_and_axes(queries)
    rc, ra = centers_and_axes(references)
    dist = np.linalg.norm(qc[:, None] - rc[None], axis=-1)  # (Q, R)
    angle = np.degrees(np.arccos(np.clip(qa @ ra.T, -1.0, 1.0)))  # (Q, R)
    positive = (dist <= config.positive_distance_m) & (angle <= config.positive_angle_deg)
    if same_set:
        np.fill_diagonal(positive, False)
    negative = dist > config.negative_distance_m
    return Tuples([np.flatnonzero(row) for row in positive], [np.flatnonzero(row) for row in negative])
