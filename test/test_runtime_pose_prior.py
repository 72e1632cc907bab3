"""Pose priors without ROS: the gate's numbers, prediction with odometry, unknown dimensions of an RViz
initialpose, the tracker's fallback to global retrieval, and the trigger/pause control."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2dhm_ros.geometry import Pose
from s2dhm_ros.runtime.localization_control import LocalizationControl
from s2dhm_ros.runtime.node_config import PriorConfig
from s2dhm_ros.runtime.pose_prior import (PosePrior, gate, initial_pose_prior, mahalanobis_squared, nees,
                                          pose_difference, predict)
from s2dhm_ros.runtime.prior_tracker import PriorTracker

S = 1_000_000_000


def yaw(deg, t=(0.0, 0.0, 0.0)):
    return Pose(Rotation.from_euler("z", deg, degrees=True).as_matrix(), t)


def prior_at(pose, std_m=1.0, std_rad=0.1, stamp_ns=0):
    return PosePrior(pose, np.diag([std_m ** 2] * 3 + [std_rad ** 2] * 3), stamp_ns, "fix")


def test_pose_difference_is_in_map_axes_and_ros_order():
    e = pose_difference(yaw(30, (1.0, 2.0, 3.0)), yaw(20, (0.5, 2.0, 3.0)))
    assert np.allclose(e, [0.5, 0, 0, 0, 0, np.radians(10)])
    assert mahalanobis_squared(e, np.diag([0.25, 1, 1, 1, 1, np.radians(10) ** 2])) == pytest.approx(2.0)
    assert nees(yaw(0, (0.0, 0.0, 3.0)), np.eye(6), yaw(0)) == pytest.approx(9.0)
    assert mahalanobis_squared(e, np.zeros((6, 6))) == np.inf


def test_gate_threshold_is_the_chi_square_quantile_over_known_axes():
    prior = prior_at(yaw(0), std_m=1.0)
    fix_covariance = np.diag([0.01] * 3 + [1e-4] * 3)
    near = gate(yaw(0, (3.0, 0, 0)), fix_covariance, prior, "position", 0.999)
    far = gate(yaw(0, (5.0, 0, 0)), fix_covariance, prior, "position", 0.999)
    assert near.threshold == pytest.approx(16.266, abs=1e-3)  # chi2.ppf(0.999, 3)
    assert near.mahalanobis_sq == pytest.approx(9 / 1.01) and near.accepted
    assert far.mahalanobis_sq == pytest.approx(25 / 1.01) and not far.accepted
    turned = gate(yaw(60), fix_covariance, prior, "pose", 0.999)  # 60 deg off, rotation std 0.1 rad: rejected
    assert turned.threshold == pytest.approx(22.458, abs=1e-3) and not turned.accepted
    assert gate(yaw(60), fix_covariance, prior, "position", 0.999).accepted
    with pytest.raises(ValueError, match="'position', 'pose' or 'off'"):
        gate(yaw(0), None, prior, "xy", 0.99)


def test_rviz_initialpose_leaves_z_roll_pitch_unknown():
    covariance = np.zeros((6, 6))
    covariance[0, 0] = covariance[1, 1] = 0.25
    covariance[5, 5] = 0.0685  # what RViz's 2D Pose Estimate sends
    prior = initial_pose_prior(yaw(0, (10.0, 5.0, 0.0)), covariance, 7 * S)
    assert prior.known_axes == (0, 1, 5) and prior.position_std_m() == pytest.approx(0.5)
    # the map's camera height (1.5 m) is not held against the prior's z = 0
    result = gate(yaw(0, (10.5, 5.0, 1.5)), np.diag([1e-4] * 6), prior, "pose", 0.999)
    assert result.axes == (0, 1, 5) and result.mahalanobis_sq == pytest.approx(0.25 / 0.2501)
    moved = predict(prior, yaw(0, (2.0, 0, 0)), 0.1, 0.1)
    assert moved.known_axes == (0, 1, 5) and moved.covariance[2, 2] == 0.0 and moved.covariance[3, 3] == 0.0
    bad = covariance.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        initial_pose_prior(yaw(0), bad, 0)
    with pytest.raises(ValueError, match="no position variance"):
        initial_pose_prior(yaw(0), np.diag([0, 0, 0, 0, 0, 0.1]), 0)
    with pytest.raises(ValueError, match="positive semi-definite"):
        initial_pose_prior(yaw(0), np.diag([1, 1, -1, 0, 0, 0.1]), 0)


def test_prediction_moves_the_prior_and_grows_its_covariance():
    prior = prior_at(yaw(90, (1.0, 1.0, 0.0)), std_m=0.1, std_rad=0.05)
    moved = predict(prior, yaw(0, (10.0, 0, 0)), translation_noise=0.1, rotation_noise=0.2)
    assert np.allclose(moved.map_from_frame.t, [1.0, 11.0, 0.0])  # facing +y, 10 m forward
    C = moved.covariance
    # along track: 0.1^2 + (0.1 * 10)^2; across track (x): 0.1^2 + 1 + the heading error 0.05 rad * 10 m, squared
    assert C[1, 1] == pytest.approx(0.01 + 1.0)
    assert C[0, 0] == pytest.approx(0.01 + 1.0 + 0.25)
    assert C[5, 5] == pytest.approx(0.0025)  # no rotation, no rotation growth
    turned = predict(prior, yaw(90), 0.1, 0.2)
    assert turned.covariance[5, 5] == pytest.approx(0.0025 + (0.2 * np.pi / 2) ** 2)


def test_tracker_restricts_near_a_confident_prior_and_falls_back_after_failures():
    tracker = PriorTracker(PriorConfig(max_position_std_m=2.0, search_radius_m=10.0, max_failures=3))
    odom0 = yaw(0, (5.0, 0, 0))
    assert tracker.predict(0, odom0) is None
    tracker.set(prior_at(yaw(0, (100.0, 0, 0)), std_m=0.5), odom0)
    prior = tracker.predict(2 * S, yaw(0, (8.0, 0, 0)))  # 3 m of odometry since
    assert np.allclose(prior.map_from_frame.t, [103.0, 0, 0]) and prior.stamp_ns == 2 * S
    camera_on_mast = yaw(0, (0.5, 0.0, 1.5))
    region = tracker.search_region(prior, camera_on_mast)
    assert np.allclose(region.center, [103.5, 0, 1.5])
    # largest std across track: 0.5^2 + odometry (0.1 * 3 m)^2 + heading (0.1 rad * 3 m)^2
    assert region.radius_m == pytest.approx(10.0 + 3 * np.sqrt(0.25 + 0.09 + 0.09))
    assert tracker.search_region(prior_at(yaw(0), std_m=3.0), None) is None  # not confident: global
    assert tracker.predict(3 * S, None) is None  # odometry lost: global for this frame
    assert [tracker.on_failure() for _ in range(3)] == [False, False, True]
    assert not tracker.has_prior and tracker.dropped == 1 and tracker.predict(4 * S, odom0) is None


def test_tracker_age_gate_and_reinitialize():
    tracker = PriorTracker(PriorConfig(max_age_s=5.0, gate="position"))
    tracker.set(prior_at(yaw(0), std_m=0.2), None)
    prior = tracker.predict(4 * S, yaw(0, (3.0, 0, 0)))
    assert prior is not None and np.allclose(prior.map_from_frame.t, 0)  # no odometry with the prior: as is
    assert tracker.judge(yaw(0, (3.0, 0, 0)), None, prior).accepted is False and tracker.rejected == 1
    assert tracker.judge(yaw(0, (0.3, 0, 0)), None, prior).accepted
    assert tracker.predict(6 * S, None) is None and not tracker.has_prior  # older than max_age_s
    tracker.set(prior_at(yaw(0)), None)
    tracker.reinitialize()
    assert tracker.predict(0, None) is None
    assert PriorTracker(PriorConfig(gate="off")).judge(yaw(0, (99.0, 0, 0)), None, prior) is None
    disabled = PriorTracker(PriorConfig(enabled=False))
    disabled.set(prior_at(yaw(0)), None)
    assert not disabled.has_prior
    for bad, match in ((dict(gate="xy"), "prior.gate"), (dict(gate_probability=1.0), "gate_probability"),
                       (dict(max_failures=0), "max_failures")):
        with pytest.raises(ValueError, match=match):
            PriorTracker(PriorConfig(**bad))


def test_control_trigger_mode_and_pause():
    control = LocalizationControl(continuous=False)
    assert "trigger_localization" in control.skip_reason()
    assert "until the next fix" in control.trigger()
    assert control.skip_reason() is None
    control.on_published()
    assert control.skip_reason() is not None  # one fix per request
    assert control.set_paused(True) == "paused" and control.set_paused(True) == "already paused"
    assert "paused" in control.trigger() and "resume" in control.skip_reason()
    assert control.set_paused(False) == "resumed" and control.skip_reason() is None
    continuous = LocalizationControl(continuous=True)
    assert continuous.skip_reason() is None
    continuous.on_published()
    assert continuous.skip_reason() is None
