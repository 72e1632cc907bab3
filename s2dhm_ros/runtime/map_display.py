"""What RViz shows of a map: its 3D points and the poses of its reference cameras, in the map frame."""
from __future__ import annotations

import numpy as np

from ..geometry import Pose
from ..map_format import SparseMap

# optical_from_body (REP-103): the body frame has x forward (the optical z), y left (-x), z up (-y). RViz draws a
# PoseArray pose as an arrow along its x axis, so a reference is shown looking where its camera looks.
OPTICAL_FROM_BODY = Pose(np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), np.zeros(3))


def map_points(sparse_map: SparseMap) -> np.ndarray:
    """(M, 3) float32 triangulated points (PointCloud2 fields x, y, z)."""
    return np.ascontiguousarray(sparse_map.points3D, dtype=np.float32)


def reference_poses(sparse_map: SparseMap) -> list[Pose]:
    """map_from_body of each reference camera: at its centre, x along its optical axis."""
    return [pose.inverse() * OPTICAL_FROM_BODY for pose in sparse_map.cam_from_world]
