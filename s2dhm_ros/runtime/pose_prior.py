"""Pose priors: where the robot should be, predicted from the last fix or `initialpose` and odometry, and how far
a new fix may be from it (a Mahalanobis gate), in the convention of the published poses.

All poses here are `map_from_frame` of the published frame (base_frame, like AMCL's base_frame_id) and all
covariances are 6x6 in ROS order (x, y, z, rotation about x, y, z; perturbations in map axes:
p' = p + d_p, R' = Exp(d_theta) R), as `runtime.pose_output` publishes them.

A prior may leave dimensions unknown: RViz's "2D Pose Estimate" (and Nav2's initial pose) sends zero variance for
z, roll and pitch, meaning "not estimated", not "exact". Zero-variance dimensions of an `initialpose` are therefore
`unknown`: they are left out of the gate and of the search radius, and stay unknown through prediction.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation
from scipy.stats import chi2

from ..geometry import Pose
from .pose_output import skew

ALL_AXES = (0, 1, 2, 3, 4, 5)
POSITION_AXES = (0, 1, 2)


def pose_difference(estimate: Pose, reference: Pose) -> np.ndarray:
    """(6,) perturbation taking `reference` to `estimate` in ROS order and map axes: (p_e - p_r, log(R_e R_r^T))."""
    rotation = Rotation.from_matrix(estimate.R @ reference.R.T).as_rotvec()
    return np.concatenate([estimate.t - reference.t, rotation])


def mahalanobis_squared(difference: np.ndarray, covariance: np.ndarray, axes: tuple[int, ...] = ALL_AXES) -> float:
    """difference^T covariance^-1 difference over `axes`; inf when the covariance is singular there."""
    axes = list(axes)
    e, S = np.asarray(difference)[axes], np.asarray(covariance)[np.ix_(axes, axes)]
    try:
        value = float(e @ np.linalg.solve(S, e))
    except np.linalg.LinAlgError:
        return float("inf")
    return value if np.isfinite(value) and value >= 0 else float("inf")


def nees(estimate: Pose, covariance: np.ndarray, truth: Pose) -> float:
    """Normalized estimation error squared of a published pose and covariance against the truth: mean 6 (the
    degrees of freedom) over many fixes when the covariance is honest."""
    return mahalanobis_squared(pose_difference(estimate, truth), covariance)


@dataclass(frozen=True)
class PosePrior:
    map_from_frame: Pose
    covariance: np.ndarray  # (6, 6) ROS order, map axes
    stamp_ns: int
    source: str  # "initialpose" or "fix" (then predicted with odometry)
    known_axes: tuple[int, ...] = ALL_AXES  # dimensions the prior constrains

    def position_std_m(self) -> float:
        """Largest standard deviation of the position over its known axes (inf when none is known)."""
        axes = [a for a in self.known_axes if a < 3]
        if not axes:
            return float("inf")
        return float(np.sqrt(max(np.linalg.eigvalsh(self.covariance[np.ix_(axes, axes)]).max(), 0.0)))


def check_covariance(covariance: np.ndarray) -> np.ndarray:
    """A 6x6 finite, symmetric, positive semi-definite covariance, or ValueError saying what is wrong."""
    C = np.asarray(covariance, dtype=np.float64)
    if C.shape != (6, 6):
        raise ValueError(f"the covariance must be 6x6, got {C.shape}")
    if not np.all(np.isfinite(C)):
        raise ValueError("the covariance holds NaN or infinite values")
    C = 0.5 * (C + C.T)
    if np.linalg.eigvalsh(C).min() < -1e-9 * max(1.0, np.abs(C).max()):
        raise ValueError("the covariance is not positive semi-definite")
    return C


def initial_pose_prior(map_from_frame: Pose, covariance: np.ndarray, stamp_ns: int) -> PosePrior:
    """A prior from `initialpose`: zero-variance dimensions are unknown (see the module docstring)."""
    C = check_covariance(covariance)
    known = tuple(int(a) for a in np.flatnonzero(np.diag(C) > 0))
    if not any(a < 3 for a in known):
        raise ValueError("the covariance gives no position variance (x, y or z); RViz's 2D Pose "
                         "Estimate sends 0.25 m^2 on x and y")
    return PosePrior(map_from_frame, C, int(stamp_ns), "initialpose", known)


def predict(prior: PosePrior, motion: Pose, translation_noise: float, rotation_noise: float) -> PosePrior:
    """The prior moved by `motion` (frame_then_from_frame_now, from odometry), its covariance propagated and grown
    by the odometry noise: std translation_noise per metre travelled, rotation_noise per radian turned."""
    predicted = prior.map_from_frame * motion
    J = np.eye(6)  # p_now = p + R m_t: a rotation error of the prior moves the predicted position
    J[:3, 3:] = -skew(prior.map_from_frame.R @ motion.t)
    C = J @ prior.covariance @ J.T
    distance = float(np.linalg.norm(motion.t))
    angle = float(np.linalg.norm(Rotation.from_matrix(motion.R).as_rotvec()))
    growth = np.array([(translation_noise * distance) ** 2] * 3 + [(rotation_noise * angle) ** 2] * 3)
    known = list(prior.known_axes)
    C[known, known] += growth[known]
    unknown = [a for a in ALL_AXES if a not in prior.known_axes]
    C[unknown, :] = 0.0  # unknown stays unknown (its zero variance must not leak into the known ones)
    C[:, unknown] = 0.0
    return dataclasses.replace(prior, map_from_frame=predicted, covariance=0.5 * (C + C.T))


@dataclass(frozen=True)
class GateResult:
    mahalanobis_sq: float  # of the fix from the prior, over the gated axes, with both covariances
    threshold: float  # chi-square quantile for the number of gated axes
    axes: tuple[int, ...]

    @property
    def accepted(self) -> bool:
        return self.mahalanobis_sq <= self.threshold


def gate(fix: Pose, fix_covariance: np.ndarray | None, prior: PosePrior, dimensions: str,
         probability: float) -> GateResult:
    """Mahalanobis gate of a fix against the prior: "position" (x, y, z) or "pose" (6-DoF), over the prior's known
    axes, with innovation covariance prior + fix, accepted below the chi-square quantile `probability`."""
    if dimensions not in ("position", "pose"):
        raise ValueError(f"prior.gate must be 'position', 'pose' or 'off', got {dimensions!r}")
    wanted = POSITION_AXES if dimensions == "position" else ALL_AXES
    axes = tuple(a for a in wanted if a in prior.known_axes)
    S = prior.covariance + (np.zeros((6, 6)) if fix_covariance is None else fix_covariance)
    d2 = mahalanobis_squared(pose_difference(fix, prior.map_from_frame), S, axes) if axes else 0.0
    return GateResult(d2, float(chi2.ppf(probability, max(len(axes), 1))), axes)
