"""PnP + LO-RANSAC + refinement through pycolmap, with the QUERY's own camera model, and the pose covariance.

(The public S2DHM code passes the reference image's camera to PnP; we use the query's intrinsics
and distortion, which is what the geometry requires.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycolmap
from scipy.spatial.transform import Rotation

from ..config import PoseConfig
from .camera import Camera
from .pose import Pose


@dataclass
class AbsolutePose:
    cam_from_world: Pose
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
    result = pycolmap.estimate_and_refine_absolute_pose(points2D, points3D, camera.to_pycolmap(), options)
    if result is None or result["num_inliers"] < config.min_inliers:
        return None
    mask = np.zeros(len(finite), dtype=bool)
    mask[np.flatnonzero(finite)] = np.asarray(result["inlier_mask"], dtype=bool)
    return AbsolutePose(Pose.from_rigid3d(result["cam_from_world"]), int(result["num_inliers"]), mask)


def refine_absolute_pose(cam_from_world: Pose, points2D: np.ndarray, points3D: np.ndarray, camera: Camera,
                         loss_scale_px: float) -> Pose:
    """Re-refine a pose on given observations (the inliers, one per cell) with a Cauchy loss of scale `loss_scale_px`.

    pycolmap's refinement inside `estimate_and_refine_absolute_pose` uses a Cauchy loss of scale 1 px: with matches
    several pixels off (a feature cell is ~24 px on a 3072 px image) nearly every inlier is down-weighted and the
    pose is noisier than the least-squares covariance says (Monte Carlo, 2 px noise: mean NEES 11 instead of 6,
    test/test_pose_covariance.py). With the scale at the inlier threshold the estimator is near least squares on the
    inliers, which is what `pose_covariance` describes.
    """
    options = pycolmap.AbsolutePoseRefinementOptions()
    options.loss_function_scale = float(loss_scale_px)
    points2D = np.ascontiguousarray(points2D, dtype=np.float64)
    result = pycolmap.refine_absolute_pose(cam_from_world.to_rigid3d(), points2D,
                                           np.ascontiguousarray(points3D, dtype=np.float64),
                                           np.ones(len(points2D), dtype=bool), camera.to_pycolmap(), options)
    return cam_from_world if result is None else Pose.from_rigid3d(result["cam_from_world"])


def reprojection_errors(cam_from_world: Pose, points2D: np.ndarray, points3D: np.ndarray,
                        camera: Camera) -> np.ndarray:
    """(M,) distance in pixels between each observation and the projection of its 3D point (inf behind the camera)."""
    projected = _project(cam_from_world.transform(np.asarray(points3D, dtype=np.float64)), camera)
    errors = np.linalg.norm(projected - points2D, axis=1)
    return np.where(np.isfinite(errors), errors, np.inf)


def one_per_cell(points2D: np.ndarray, cell_px: np.ndarray, errors: np.ndarray | None = None) -> np.ndarray:
    """Indices of one observation per query feature-grid cell (cell_px: (2,) cell size in pixels, x then y): in
    each cell, the one with the smallest error (any one without `errors`).

    Sparse-to-dense matches are peaks of a correlation over the query's stride-s grid: every map keypoint that
    lands in a cell is located by the same few feature vectors, so their errors are not independent. Counted as
    independent, a cell hit 20 times would shrink the covariance 20-fold for no extra information.
    """
    cells = np.floor(np.asarray(points2D) / np.asarray(cell_px)).astype(np.int64)
    errors = np.zeros(len(cells)) if errors is None else errors
    order = np.lexsort((errors, cells[:, 1], cells[:, 0]))  # by cell, then by error within a cell
    sorted_cells = cells[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(sorted_cells[1:] != sorted_cells[:-1], axis=1)
    return np.sort(order[first])


def pose_covariance(cam_from_world: Pose, points2D: np.ndarray, points3D: np.ndarray, camera: Camera,
                    pixel_noise_px: float) -> np.ndarray | None:
    """(6, 6) covariance of cam_from_world for independent isotropic pixel noise of `pixel_noise_px` (std):
    sigma^2 (J^T J)^-1 of the reprojection residuals of the given observations (inliers, one per cell).

    Over pycolmap's tangent (rotation first, R' = Exp(2 d_r) R in camera axes, t' = t + d_t; see
    runtime/pose_output.py), so that the published covariance is mapped exactly like pycolmap's would be.
    None when fewer than 3 observations or the geometry leaves a direction unconstrained.
    """
    points2D = np.asarray(points2D, dtype=np.float64)
    if len(points2D) < 3:
        return None
    rotated = np.asarray(points3D, dtype=np.float64) @ cam_from_world.R.T  # (M, 3) R X
    J = np.empty((2 * len(points2D), 6))
    for k in range(6):  # central differences: projection through the camera model with its distortion
        step = np.zeros(6)
        step[k] = 1e-6
        plus, minus = (_project(_perturbed(rotated, cam_from_world.t, s), camera) for s in (step, -step))
        J[:, k] = ((plus - minus) / 2e-6).reshape(-1)
    if not np.all(np.isfinite(J)):
        return None
    information = J.T @ J
    if np.linalg.cond(information) > 1e12:
        return None
    covariance = pixel_noise_px ** 2 * np.linalg.inv(information)
    return 0.5 * (covariance + covariance.T)


def _perturbed(rotated: np.ndarray, t: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """Camera-frame points after pycolmap's tangent step (d_r, d_t): Exp(2 d_r) R X + t + d_t."""
    return rotated @ Rotation.from_rotvec(2.0 * tangent[:3]).as_matrix().T + t + tangent[3:]


def _project(cam_points: np.ndarray, camera: Camera) -> np.ndarray:
    projected = np.full((len(cam_points), 2), np.nan)
    front = cam_points[:, 2] > 1e-9
    if front.any():
        projected[front] = camera.to_pycolmap().img_from_cam(np.ascontiguousarray(cam_points[front]),
                                                             check_cheirality=False)
    return projected
