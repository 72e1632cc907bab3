"""Covariance convention of pycolmap, its transformation to ROS order, and the REP-105 map→odom composition."""
import numpy as np
import pycolmap
import pytest
from scipy.spatial.transform import Rotation

from s2dhm_ros.geometry import Camera, Pose
from s2dhm_ros.runtime.pose_output import (covariance_jacobian, future_dated_stamp_ns, map_from_odom,
                                           published_pose)

CAMERA = Camera("PINHOLE", 640, 480, (500.0, 520.0, 320.0, 240.0))


def exp(v):
    return Rotation.from_rotvec(v).as_matrix()


def log(R):
    return Rotation.from_matrix(R).as_rotvec()


def random_pose(rng, scale=3.0):
    return Pose(exp(rng.normal(size=3)), rng.normal(scale=scale, size=3))


def pycolmap_tangent_plus(cam_from_world, d):
    """The convention under test: rotation first, R' = Exp(2 d_r) R (camera axes), t' = t + d_t."""
    return Pose(exp(2 * d[:3]) @ cam_from_world.R, cam_from_world.t + d[3:])


def project(pose, points):
    Xc = pose.transform(points)
    fx, fy, cx, cy = CAMERA.params
    return np.stack([fx * Xc[:, 0] / Xc[:, 2] + cx, fy * Xc[:, 1] / Xc[:, 2] + cy], 1)


@pytest.mark.parametrize("noise_px", [1e-6, 2.0])
def test_pycolmap_covariance_is_cauchy_weighted_inverse_hessian_of_the_documented_tangent(noise_px):
    rng = np.random.default_rng(1)
    truth = Pose(exp([0.3, -0.2, 0.5]), [0.5, -1.0, 4.0])
    points3D = truth.inverse().transform(rng.uniform([-3, -2, 2], [3, 2, 8], (80, 3)))
    points2D = project(truth, points3D) + rng.normal(0, noise_px, (80, 2))
    out = pycolmap.refine_absolute_pose(truth.to_rigid3d(), points2D, points3D, np.ones(80, bool),
                                        CAMERA.to_pycolmap(), pycolmap.AbsolutePoseRefinementOptions(),
                                        return_covariance=True)
    estimate, covariance = Pose.from_rigid3d(out["cam_from_world"]), np.asarray(out["covariance"])

    eps, columns = 1e-6, []
    for i in range(6):
        d = np.zeros(6)
        d[i] = eps
        columns.append((project(pycolmap_tangent_plus(estimate, d), points3D)
                        - project(pycolmap_tangent_plus(estimate, -d), points3D)).ravel() / (2 * eps))
    J = np.array(columns).T
    squared = ((project(estimate, points3D) - points2D) ** 2).sum(1)
    weights = np.repeat(1.0 / (1.0 + squared), 2)  # Cauchy loss, scale 1 px: rho'(s) = 1 / (1 + s)
    expected = np.linalg.inv(J.T @ (weights[:, None] * J))
    assert np.allclose(covariance, expected, rtol=1e-6, atol=1e-12 * np.abs(expected).max())
    # The other plausible conventions are far off: half angle, translation first.
    J_full_angle = J.copy()
    J_full_angle[:, :3] /= 2
    wrong = np.linalg.inv(J_full_angle.T @ (weights[:, None] * J_full_angle))
    assert not np.allclose(covariance, wrong, rtol=1e-2)


def ros_perturbed(cam_from_world, cam_from_frame, d):
    """map_from_frame of the pycolmap-perturbed estimate, expressed as the ROS perturbation (d_p, d_theta)."""
    base = cam_from_world.inverse() * cam_from_frame
    moved = pycolmap_tangent_plus(cam_from_world, d).inverse() * cam_from_frame
    return np.concatenate([moved.t - base.t, log(moved.R @ base.R.T)])


def ros_perturbed_batch(cam_from_world, cam_from_frame, d):
    """`ros_perturbed` for (N, 6) tangent vectors at once."""
    R = Rotation.from_rotvec(2 * d[:, :3]).as_matrix() @ cam_from_world.R  # (N, 3, 3) cam_from_world
    t = cam_from_world.t + d[:, 3:]
    R_frame = np.swapaxes(R, 1, 2) @ cam_from_frame.R
    p_frame = np.einsum("nji,nj->ni", R, cam_from_frame.t - t)
    base = cam_from_world.inverse() * cam_from_frame
    return np.hstack([p_frame - base.t, Rotation.from_matrix(R_frame @ base.R.T).as_rotvec()])


@pytest.mark.parametrize("with_extrinsic", [False, True])
def test_covariance_jacobian_matches_numerical_jacobian(with_extrinsic):
    rng = np.random.default_rng(2)
    for _ in range(5):
        cam_from_world = random_pose(rng, 20.0)
        cam_from_frame = random_pose(rng, 1.5) if with_extrinsic else Pose.identity()
        eps = 1e-6
        numerical = np.array([(ros_perturbed(cam_from_world, cam_from_frame, e)
                               - ros_perturbed(cam_from_world, cam_from_frame, -e)) / (2 * eps)
                              for e in np.eye(6) * eps]).T
        analytic = covariance_jacobian(cam_from_world, cam_from_frame if with_extrinsic else None)
        assert np.allclose(analytic, numerical, atol=1e-6)
        d = rng.normal(scale=1e-3, size=(3, 6))
        assert np.allclose(ros_perturbed_batch(cam_from_world, cam_from_frame, d),
                           [ros_perturbed(cam_from_world, cam_from_frame, x) for x in d])


def test_published_covariance_propagates_samples():
    """Monte Carlo: pycolmap-tangent samples mapped through the real transform have the published covariance."""
    rng = np.random.default_rng(3)
    cam_from_world, cam_from_base = random_pose(rng, 10.0), random_pose(rng, 1.0)
    A = rng.normal(size=(6, 6)) * 1e-3
    covariance = A @ A.T
    out = published_pose(cam_from_world, covariance, cam_from_base)
    samples = rng.multivariate_normal(np.zeros(6), covariance, 50000)
    deltas = ros_perturbed_batch(cam_from_world, cam_from_base, samples)
    sampled = np.cov(deltas.T)
    scale = np.sqrt(np.outer(np.diag(sampled), np.diag(sampled)))
    assert np.abs((out.covariance - sampled) / scale).max() < 0.03  # in units of correlation
    assert np.allclose(out.covariance, out.covariance.T)
    assert np.allclose(out.map_from_frame.matrix, np.linalg.inv(cam_from_world.matrix) @ cam_from_base.matrix)


def test_published_pose_without_covariance_or_extrinsic():
    cam_from_world = Pose(exp([0.1, 0.2, 0.3]), [1.0, 2.0, 3.0])
    out = published_pose(cam_from_world, None)
    assert out.covariance is None
    assert np.allclose(out.map_from_frame.t, cam_from_world.center)
    with pytest.raises(ValueError, match="6x6"):
        published_pose(cam_from_world, np.eye(3))


def test_map_from_odom_is_exact_on_synthetic_transforms():
    rng = np.random.default_rng(4)
    map_from_odom_true, odom_from_base = random_pose(rng, 50.0), random_pose(rng, 20.0)
    base_from_cam = random_pose(rng, 1.0)
    cam_from_world = (map_from_odom_true * odom_from_base * base_from_cam).inverse()
    estimate = published_pose(cam_from_world, None, base_from_cam.inverse()).map_from_frame
    result = map_from_odom(estimate, odom_from_base)
    assert np.allclose(result.matrix, map_from_odom_true.matrix, atol=1e-9)
    assert np.allclose((result * odom_from_base).matrix, estimate.matrix, atol=1e-9)


def test_future_dating():
    assert future_dated_stamp_ns(1_000_000_000, 0.1) == 1_100_000_000
    assert future_dated_stamp_ns(5, 0.0) == 5
    with pytest.raises(ValueError):
        future_dated_stamp_ns(0, -0.1)
