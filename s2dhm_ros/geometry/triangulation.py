"""Triangulation of feature tracks with KNOWN camera poses (as the paper does with COLMAP)."""
from __future__ import annotations

import numpy as np
import pycolmap

from .camera import Camera
from .pose import Pose


def triangulate_track(points2D: np.ndarray, poses: list[Pose], cameras: list[Camera],
                      max_reproj_error_px: float, min_angle_deg: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Robustly triangulate one track (>= 2 observations) with pycolmap's LO-RANSAC.

    Returns the 3D point and the inlier mask of the observations, or None when no point with
    at least two inlier views, the minimum triangulation angle and positive depth exists.
    """
    options = pycolmap.EstimateTriangulationOptions()
    options.min_tri_angle = np.radians(min_angle_deg)
    options.residual_type = pycolmap.TriangulationResidualType.REPROJECTION_ERROR
    options.ransac.max_error = max_reproj_error_px
    options.ransac.random_seed = 0
    result = pycolmap.estimate_triangulation(
        np.asarray(points2D, dtype=np.float64), [p.to_rigid3d() for p in poses],
        [c.to_pycolmap() for c in cameras], options)
    if result is None:
        return None
    inliers = np.asarray(result["inliers"], dtype=bool)
    if inliers.sum() < 2:
        return None
    return np.asarray(result["xyz"], dtype=np.float64).reshape(3), inliers


def project(points3D: np.ndarray, cam_from_world: Pose, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Project (N, 3) world points with the camera's full model. Returns (N, 2) pixels and (N,) depths."""
    cam = np.ascontiguousarray(cam_from_world.transform(points3D), dtype=np.float64)
    pixels = camera.to_pycolmap().img_from_cam(cam, check_cheirality=False)
    return np.asarray(pixels), cam[:, 2]
