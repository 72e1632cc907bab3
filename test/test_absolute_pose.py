"""PnP + LO-RANSAC recovers a pose with 50 % outliers, with the query's own (distorted) camera."""
import numpy as np

from s2dhm_ros.config import PoseConfig
from s2dhm_ros.geometry import Camera, Pose, pose_error
from s2dhm_ros.geometry.absolute_pose import estimate_absolute_pose
from s2dhm_ros.geometry.triangulation import project, triangulate_track


def _scene(seed=0, n=400):
    rng = np.random.default_rng(seed)
    camera = Camera("OPENCV", 1024, 768, (800, 810, 512, 384, -0.1, 0.02, 0.001, -0.001))
    truth = Pose.from_qvec_tvec(np.array([0.98, 0.05, -0.1, 0.15]) / np.linalg.norm([0.98, 0.05, -0.1, 0.15]),
                                np.array([0.3, -0.2, 1.0]))
    cam_points = np.stack([rng.uniform(-4, 4, n), rng.uniform(-3, 3, n), rng.uniform(5, 20, n)], 1)
    world = truth.inverse().transform(cam_points)
    xy, _ = project(world, truth, camera)
    return rng, camera, truth, world, xy


def test_pnp_recovers_pose_with_half_outliers():
    rng, camera, truth, world, xy = _scene()
    noisy = xy + rng.normal(0, 0.5, xy.shape)
    outliers = rng.random(len(xy)) < 0.5
    noisy[outliers] = rng.uniform([0, 0], [1024, 768], (outliers.sum(), 2))
    result = estimate_absolute_pose(noisy, world, camera, PoseConfig(), 12.0)
    assert result is not None
    dt, dr = pose_error(result.cam_from_world, truth)
    assert dt < 0.05 and dr < 0.2
    assert abs(result.num_inliers - (~outliers).sum()) < 0.05 * len(xy)
    assert result.inlier_mask[~outliers].mean() > 0.95


def test_pnp_rejects_too_few_inliers_and_ignores_nans():
    rng, camera, truth, world, xy = _scene(n=40)
    assert estimate_absolute_pose(xy[:10], world[:10], camera, PoseConfig(min_inliers=15), 12.0) is None
    xy = xy.copy()
    xy[0] = np.nan
    result = estimate_absolute_pose(xy, world, camera, PoseConfig(), 12.0)
    assert result is not None and not result.inlier_mask[0]


def test_triangulation_with_known_poses():
    camera = Camera("PINHOLE", 640, 480, (500, 500, 320, 240))
    poses = [Pose.identity(), Pose(np.eye(3), np.array([-1.0, 0, 0])), Pose(np.eye(3), np.array([-2.0, 0, 0]))]
    X = np.array([0.3, 0.2, 5.0])
    xy = np.array([project(X[None], p, camera)[0][0] for p in poses])
    xy[2] += 50  # one bad observation
    point, inliers = triangulate_track(xy, poses, [camera] * 3, 4.0, 1.0)
    np.testing.assert_allclose(point, X, atol=1e-6)
    assert inliers.tolist() == [True, True, False]


def test_collapsed_matches_do_not_count_as_support():
    """Many 3D points matched to one query pixel are one observation, not many inliers."""
    from s2dhm_ros.localizer import _distinct_support
    from s2dhm_ros.geometry.absolute_pose import AbsolutePose
    rng = np.random.default_rng(0)
    collapsed = 96 + rng.uniform(0, 8, (500, 2))  # 500 matches inside one 8 x 8 px cell
    spread = np.arange(40)[:, None] * 8.0 + 4.0 + 400  # 40 matches in 40 different cells
    points2D = np.concatenate([collapsed, np.hstack([spread, spread])])
    estimate = AbsolutePose(Pose.identity(), 540, np.ones(540, dtype=bool))
    assert _distinct_support(estimate, points2D, np.array([8.0, 8.0])).num_inliers == 41
    assert _distinct_support(None, points2D, np.array([8.0, 8.0])) is None
