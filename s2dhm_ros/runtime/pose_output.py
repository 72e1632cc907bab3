"""From a localization estimate to what the node publishes: the pose of the published frame in the map, its
covariance in ROS order, and the REP-105 map→odom transform.

pycolmap's covariance convention (COLMAP's `RefineAbsolutePose`, established numerically for pycolmap 4.2.1 in
test/test_runtime_pose_output.py): the 6x6 matrix returned by `estimate_and_refine_absolute_pose(...,
return_covariance=True)` is over the tangent vector (d_r, d_t) of cam_from_world, rotation first, with

    R_cam_from_world' = Exp(2 d_r) R_cam_from_world     (left perturbation, camera axes; Ceres' quaternion
    t_cam_from_world' = t_cam_from_world + d_t           manifold, whose tangent is HALF the rotation vector)

and it equals (J^T J)^-1 of the Cauchy-robustified (scale 1 px) reprojection residuals: a unit (1 px) pixel noise.

ROS's PoseWithCovariance covariance is over (x, y, z, rot x, rot y, rot z) of the pose of the child frame in the
header frame, both perturbations in the header (map) axes: p' = p + d_p, R' = Exp(d_theta) R.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import Pose

# pycolmap tangent (d_r, d_t) -> (rotation vector in camera axes, translation of cam_from_world).
_PYCOLMAP_TO_CAMERA_PERTURBATION = np.diag([2.0, 2.0, 2.0, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class PublishedPose:
    map_from_frame: Pose  # pose of the published frame (camera optical frame or base_frame) in the map
    covariance: np.ndarray | None  # (6, 6) ROS order in map axes; None when the estimate has none


def skew(v: np.ndarray) -> np.ndarray:
    """The cross-product matrix: skew(a) @ b == np.cross(a, b)."""
    x, y, z = v
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def covariance_jacobian(cam_from_world: Pose, cam_from_frame: Pose | None = None) -> np.ndarray:
    """d(ROS perturbation of map_from_frame) / d(pycolmap tangent of cam_from_world), 6x6.

    With theta = -R_wc (2 d_r) the map-axes rotation and p the frame's position in the map,
    d_p = -skew(p) theta - R_wc d_t.
    """
    world_from_cam = cam_from_world.inverse()
    p = (world_from_cam * (cam_from_frame or Pose.identity())).t
    R_wc = world_from_cam.R
    J = np.zeros((6, 6))
    J[3:, :3] = -R_wc
    J[:3, :3] = skew(p) @ R_wc
    J[:3, 3:] = -R_wc
    return J @ _PYCOLMAP_TO_CAMERA_PERTURBATION


def published_pose(cam_from_world: Pose, covariance: np.ndarray | None,
                   cam_from_frame: Pose | None = None) -> PublishedPose:
    """The estimate as published: map_from_frame and its ROS-order covariance.

    `cam_from_frame` is the extrinsic of the published frame (e.g. base_link) seen from the camera optical frame;
    None publishes the camera itself. `covariance` is over pycolmap's tangent (the localizer's, already scaled by its
    pixel noise).
    """
    map_from_frame = cam_from_world.inverse() * (cam_from_frame or Pose.identity())
    if covariance is None:
        return PublishedPose(map_from_frame, None)
    C = np.asarray(covariance, dtype=np.float64)
    if C.shape != (6, 6):
        raise ValueError(f"pose covariance must be 6x6, got {C.shape}")
    J = covariance_jacobian(cam_from_world, cam_from_frame)
    out = J @ C @ J.T
    return PublishedPose(map_from_frame, 0.5 * (out + out.T))


def map_from_odom(map_from_base: Pose, odom_from_base: Pose) -> Pose:
    """REP-105: the map→odom that makes map→odom→base equal the localized map→base at the same stamp."""
    return map_from_base * odom_from_base.inverse()


def future_dated_stamp_ns(stamp_ns: int, tolerance_s: float) -> int:
    """Stamp of a published map→odom: the image stamp post-dated by the tolerance (as AMCL's transform_tolerance),
    so that TF lookups between two fixes can still use it."""
    if tolerance_s < 0:
        raise ValueError(f"tf_future_dating_s must be >= 0, got {tolerance_s}")
    return int(stamp_ns) + int(round(tolerance_s * 1e9))
