"""Rigid transforms (SE(3)) and pose errors.

A `Pose` named `cam_from_world` maps world points into the camera frame: x_cam = R @ x_world + t,
the convention of COLMAP and of the visuallocalization.net submission format.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycolmap
from scipy.spatial.transform import Rotation


@dataclass(frozen=True)
class Pose:
    """A rigid transform x_b = R @ x_a + t (named `b_from_a` where it is stored)."""

    R: np.ndarray  # (3, 3) rotation matrix
    t: np.ndarray  # (3,) translation

    def __post_init__(self) -> None:
        R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        t = np.asarray(self.t, dtype=np.float64).reshape(3)
        if not (np.all(np.isfinite(R)) and np.all(np.isfinite(t))):
            raise ValueError("pose contains NaN or infinite values")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-5) or np.linalg.det(R) < 0:
            raise ValueError("pose rotation is not a rotation matrix")
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "t", t)

    @classmethod
    def identity(cls) -> "Pose":
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_matrix(cls, T: np.ndarray) -> "Pose":
        T = np.asarray(T, dtype=np.float64)
        return cls(T[:3, :3], T[:3, 3])

    @classmethod
    def from_qvec_tvec(cls, qvec_wxyz: np.ndarray, tvec: np.ndarray) -> "Pose":
        """From a unit quaternion (w, x, y, z), the COLMAP / submission order, and a translation."""
        w, x, y, z = np.asarray(qvec_wxyz, dtype=np.float64)
        return cls(Rotation.from_quat([x, y, z, w]).as_matrix(), tvec)

    @classmethod
    def from_message_fields(cls, translation, rotation) -> "Pose":
        """From ROS message fields: a Vector3/Point (x, y, z) and a Quaternion (x, y, z, w) — rclpy's and
        rosbags' classes alike (geometry_msgs/Transform, Pose)."""
        q = rotation
        return cls(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), [translation.x, translation.y, translation.z])

    @property
    def qvec(self) -> np.ndarray:
        """Unit quaternion (w, x, y, z) with w >= 0."""
        x, y, z, w = Rotation.from_matrix(self.R).as_quat()
        q = np.array([w, x, y, z])
        return q if q[0] >= 0 else -q

    @property
    def matrix(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = self.R
        T[:3, 3] = self.t
        return T

    @property
    def center(self) -> np.ndarray:
        """For a cam_from_world pose: the camera centre in world coordinates."""
        return -self.R.T @ self.t

    def inverse(self) -> "Pose":
        return Pose(self.R.T, -self.R.T @ self.t)

    def __mul__(self, other: "Pose") -> "Pose":
        """Composition: (b_from_a * a_from_c) is b_from_c."""
        return Pose(self.R @ other.R, self.R @ other.t + self.t)

    def transform(self, points: np.ndarray) -> np.ndarray:
        """Apply to (N, 3) points."""
        return points @ self.R.T + self.t

    def to_rigid3d(self) -> pycolmap.Rigid3d:
        return pycolmap.Rigid3d(pycolmap.Rotation3d(self.R), self.t)

    @classmethod
    def from_rigid3d(cls, rigid: pycolmap.Rigid3d) -> "Pose":
        m = rigid.matrix()
        return cls(m[:3, :3], m[:3, 3])


def pose_error(estimate: Pose, truth: Pose) -> tuple[float, float]:
    """Position error (metres, between camera centres) and rotation error (degrees) of two cam_from_world poses."""
    return float(np.linalg.norm(estimate.center - truth.center)), rotation_angle_deg(estimate, truth)


def rotation_angle_deg(a: Pose, b: Pose) -> float:
    """The angle (degrees) of the rotation between the orientations of two poses of the same kind."""
    cos = (np.trace(a.R @ b.R.T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
