"""PnP + LO-RANSAC + refinement through pycolmap, with the QUERY's own camera model.

(The public S2DHM code passes the reference image's camera to PnP; we use the query's intrinsics
and distortion, which is what the geometry requires.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycolmap

from ..config import PoseConfig
from .camera import Camera
from .pose import Pose


@dataclass
class AbsolutePose:
    cam_from_world: Pose
    covariance: np.ndarray  # (6, 6) pycolmap's covariance of cam_from_world (see runtime/pose_output.py)
    num_inliers: int
    inlier_mask: np.ndarray  # (M,) bool


def estimate_absolute_pose(points2D: np.ndarray, points3D: np.ndarray, camera: Camera,
                           config: PoseConfig, max_error_px: float, seed: int | None = 0) -> AbsolutePose | None:
    """points2D: (M, 2) query pixels (COLMAP convention); points3D: (M, 3) world points;
    max_error_px: RANSAC inlier threshold in pixels of the query image.

    Returns None when RANSAC finds no model or fewer than `config.min_inliers` inliers.
    A fixed seed makes the result reproducible (the paper does not specify one).
    """
    points2D = np.ascontiguousarray(points2D, dtype=np.float64).reshape(-1, 2)
    points3D = np.ascontiguousarray(points3D, dtype=np.float64).reshape(-1, 3)
    if len(points2D) != len(points3D):
        raise ValueError(f"{len(points2D)} 2D points but {len(points3D)} 3D points")
    finite = np.isfinite(points2D).all(1) & np.isfinite(points3D).all(1)
    points2D, points3D = points2D[finite], points3D[finite]
    if len(points2D) < max(4, config.min_inliers):
        return None
    options = pycolmap.AbsolutePoseEstimationOptions()
    options.ransac.max_error = max_error_px
    options.ransac.confidence = config.ransac_confidence
    options.ransac.max_num_trials = config.ransac_max_trials
    if seed is not None:
        options.ransac.random_seed = seed
    result = pycolmap.estimate_and_refine_absolute_pose(
        points2D, points3D, camera.to_pycolmap(), options, return_covariance=True)
    if result is None or result["num_inliers"] < config.min_inliers:
        return None
    mask = np.zeros(len(finite), dtype=bool)
    mask[np.flatnonzero(finite)] = np.asarray(result["inlier_mask"], dtype=bool)
    return AbsolutePose(Pose.from_rigid3d(result["cam_from_world"]), np.asarray(result["covariance"]),
                        int(result["num_inliers"]), mask)
