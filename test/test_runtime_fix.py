"""What the node publishes for a fix, with synthetic TF: frames, REP-105 map->odom, future dating, failures."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2dhm_ros.geometry import Pose
from s2dhm_ros.runtime.fix import make_fix
from s2dhm_ros.runtime.node_config import LocalizerNodeConfig
from s2dhm_ros.runtime.pose_output import published_pose

rng = np.random.default_rng(7)


def random_pose(scale):
    return Pose(Rotation.from_rotvec(rng.normal(size=3)).as_matrix(), rng.normal(scale=scale, size=3))


MAP_FROM_ODOM = random_pose(30.0)
ODOM_FROM_BASE = random_pose(10.0)
BASE_FROM_CAMERA = random_pose(1.0)
CAM_FROM_WORLD = (MAP_FROM_ODOM * ODOM_FROM_BASE * BASE_FROM_CAMERA).inverse()
COVARIANCE = np.diag([1e-4, 2e-4, 3e-4, 0.01, 0.02, 0.03])
STAMP = 1_700_000_000_123_456_789


def lookup_from(transforms):
    calls = []

    def lookup(target, source, stamp_ns):
        calls.append((target, source, stamp_ns))
        if (target, source) not in transforms:
            raise LookupError(f"{target} <- {source}")
        return transforms[(target, source)]

    return lookup, calls


TF = {("camera_optical", "base_link"): BASE_FROM_CAMERA.inverse(), ("odom", "base_link"): ODOM_FROM_BASE}


def test_map_to_odom_is_exact_and_future_dated():
    lookup, calls = lookup_from(TF)
    fix = make_fix(CAM_FROM_WORLD, COVARIANCE, STAMP, "camera_optical", "map", LocalizerNodeConfig(), lookup)
    assert calls == [("camera_optical", "base_link", STAMP), ("odom", "base_link", STAMP)]
    assert fix.frame == "base_link" and fix.map_frame == "map" and fix.stamp_ns == STAMP
    assert np.allclose(fix.pose.map_from_frame.matrix, (MAP_FROM_ODOM * ODOM_FROM_BASE).matrix, atol=1e-9)
    expected = published_pose(CAM_FROM_WORLD, COVARIANCE, BASE_FROM_CAMERA.inverse())
    assert np.allclose(fix.pose.covariance, expected.covariance)
    assert (fix.tf.parent, fix.tf.child) == ("map", "odom")
    assert np.allclose(fix.tf.parent_from_child.matrix, MAP_FROM_ODOM.matrix, atol=1e-9)
    assert fix.tf.stamp_ns == STAMP + 500_000_000


def test_without_odom_frame_the_tf_is_map_to_base():
    lookup, _ = lookup_from(TF)
    fix = make_fix(CAM_FROM_WORLD, COVARIANCE, STAMP, "camera_optical", "world",
                   LocalizerNodeConfig(odom_frame="", tf_future_dating_s=0.0), lookup)
    assert (fix.tf.parent, fix.tf.child, fix.tf.stamp_ns) == ("world", "base_link", STAMP)
    assert np.allclose(fix.tf.parent_from_child.matrix, fix.pose.map_from_frame.matrix)


def test_without_base_frame_the_camera_is_published_and_no_extrinsic_is_needed():
    lookup, calls = lookup_from({})
    fix = make_fix(CAM_FROM_WORLD, COVARIANCE, STAMP, "camera_optical", "map",
                   LocalizerNodeConfig(base_frame="", publish_tf=False), lookup)
    assert calls == [] and fix.tf is None and fix.frame == "camera_optical"
    assert np.allclose(fix.pose.map_from_frame.matrix, CAM_FROM_WORLD.inverse().matrix)
    assert np.allclose(fix.pose.covariance, published_pose(CAM_FROM_WORLD, COVARIANCE).covariance)


def test_missing_odom_publishes_the_pose_without_tf_and_says_why():
    lookup, _ = lookup_from({("camera_optical", "base_link"): BASE_FROM_CAMERA.inverse()})
    fix = make_fix(CAM_FROM_WORLD, COVARIANCE, STAMP, "camera_optical", "map", LocalizerNodeConfig(), lookup)
    assert fix.tf is None and "odom <- base_link" in fix.tf_error


def test_missing_extrinsic_means_no_pose():
    lookup, _ = lookup_from({})
    with pytest.raises(LookupError, match="camera_optical <- base_link"):
        make_fix(CAM_FROM_WORLD, COVARIANCE, STAMP, "camera_optical", "map", LocalizerNodeConfig(), lookup)
