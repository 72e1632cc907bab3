"""The ROS-free TF buffer: chains up and down, exact interpolation, broken chains, stale stamps and dropouts."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2dhm_ros.geometry import Pose
from s2dhm_ros.io.bag_writer import tf_message, transform_stamped_msg
from s2dhm_ros.io.tf_buffer import TfBuffer, TransformChainError, TransformTimeError

S = 1_000_000_000
MAP_FROM_ODOM = Pose(Rotation.from_euler("z", 0.3).as_matrix(), [10.0, -5.0, 0.5])
BASE_FROM_CAMERA = Pose(Rotation.from_euler("xyz", [-90, 0, -90], degrees=True).as_matrix(), [1.5, 0.1, 1.2])
BASE_FROM_LIDAR = Pose(Rotation.from_euler("z", 0.1).as_matrix(), [0.2, 0.0, 1.8])


def odom_from_base(t_s: float) -> Pose:
    """A car turning at a constant rate and driving straight in odom: slerp/lerp reproduce it exactly."""
    return Pose(Rotation.from_euler("z", 0.2 * t_s).as_matrix(), [2.0 * t_s, 0.5 * t_s, 0.0])


@pytest.fixture
def tf() -> TfBuffer:
    buffer = TfBuffer()
    buffer.add_tf_message(tf_message([transform_stamped_msg("map", "odom", MAP_FROM_ODOM, 0),
                                      transform_stamped_msg("base_link", "camera", BASE_FROM_CAMERA, 0),
                                      transform_stamped_msg("/base_link", "lidar", BASE_FROM_LIDAR, 0)]), static=True)
    for k in (3, 0, 1, 2):  # out of order on purpose
        buffer.add_tf_message(tf_message([transform_stamped_msg("odom", "base_link", odom_from_base(k), k * S)]))
    return buffer


def assert_pose(a: Pose, b: Pose) -> None:
    assert np.allclose(a.R, b.R, atol=1e-9) and np.allclose(a.t, b.t, atol=1e-9)


@pytest.mark.parametrize("t_s", [0.0, 0.25, 1.5, 2.9, 3.0])
def test_chain_with_interpolation_is_exact(tf, t_s):
    truth = (MAP_FROM_ODOM * odom_from_base(t_s) * BASE_FROM_CAMERA).inverse()  # camera_from_map
    assert_pose(tf.lookup("camera", "map", int(t_s * S), tolerance_ns=S // 2), truth)
    assert_pose(tf.lookup("map", "camera", int(t_s * S), tolerance_ns=S // 2), truth.inverse())


def test_up_and_down_between_siblings(tf):
    assert_pose(tf.lookup("lidar", "camera", 0), BASE_FROM_LIDAR.inverse() * BASE_FROM_CAMERA)
    assert_pose(tf.lookup("camera", "camera", 5 * S), Pose.identity())


def test_tolerance(tf):
    assert_pose(tf.lookup("odom", "base_link", 3 * S + S // 20, tolerance_ns=S // 10), odom_from_base(3))
    with pytest.raises(TransformTimeError, match="outside"):
        tf.lookup("camera", "map", 4 * S, tolerance_ns=S // 10)
    with pytest.raises(TransformTimeError):
        tf.lookup("camera", "map", -S)
    # Static-only chains hold at every stamp.
    assert_pose(tf.lookup("base_link", "lidar", 100 * S), BASE_FROM_LIDAR)


@pytest.mark.parametrize("t_s", [0.0, 0.013, 0.05, 0.087, 0.45, 0.9])
def test_10_hz_tf_interpolates_exactly_everywhere_with_a_50_ms_tolerance(t_s):
    """Every stamp between samples 0.1 s apart is within 0.05 s of one of them, so none is refused."""
    buffer = TfBuffer()
    for k in range(10):
        buffer.add_transform("odom", "base_link", odom_from_base(k / 10), k * S // 10)
    assert_pose(buffer.lookup("odom", "base_link", round(t_s * S), tolerance_ns=S // 20), odom_from_base(t_s))


def test_dropout_is_a_gap_not_interpolated():
    """50 Hz TF, a 60 s dropout, 50 Hz again; tolerance 0.05 s. Interpolating straight driving across the dropout
    would even be right here, but nothing was measured in it: stamps farther than the tolerance from every sample
    fail, those within it of a sample (on either side of the dropout) interpolate."""
    def straight(t_s: float) -> Pose:
        return Pose(np.eye(3), [2.0 * t_s, 0.5 * t_s, 0.0])

    buffer = TfBuffer()
    for t_s in (0.0, 0.02, 0.04, 60.0, 60.02):
        buffer.add_transform("odom", "base_link", straight(t_s), round(t_s * S))
    for t_s in (30.0, 0.1, 59.94):
        with pytest.raises(TransformTimeError, match="dropout"):
            buffer.lookup("odom", "base_link", round(t_s * S), tolerance_ns=S // 20)
    for t_s in (0.01, 0.03, 0.09, 59.95, 60.01):
        assert_pose(buffer.lookup("odom", "base_link", round(t_s * S), tolerance_ns=S // 20), straight(t_s))


def test_broken_chain_names_the_reachable_frames(tf):
    tf.add_transform("gps", "antenna", Pose.identity(), 0, static=True)
    with pytest.raises(TransformChainError) as e:
        tf.lookup("antenna", "camera", 0)
    message = str(e.value)
    assert "antenna" in message and "gps" in message and "odom" in message and "map" in message
    with pytest.raises(TransformChainError, match="not in the TF data"):
        tf.lookup("nowhere", "map", 0)


def test_conflicting_parents_are_rejected(tf):
    with pytest.raises(ValueError, match="two parents"):
        tf.add_transform("map", "base_link", Pose.identity(), 0)
