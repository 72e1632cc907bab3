"""The node's messages with the rosbags ROS 2 types (fields, stamp, frames, covariance layout, CDR round trip),
and the same builders on rclpy's generated classes."""
import subprocess
import sys

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore
from scipy.spatial.transform import Rotation

import real_ros
from s2dhm_ros.geometry import Pose
from s2dhm_ros.ros.messages import (RclpyTypes, covariance_of, diagnostic_array, pose_from_transform,
                                    pose_with_covariance_stamped, transform_stamped)
from s2dhm_ros.runtime.fix import Fix, Transform
from s2dhm_ros.runtime.pose_output import published_pose
from s2dhm_ros.runtime.stats import Diagnostic

STORE = get_typestore(Stores.ROS2_HUMBLE)
STAMP = 1_700_000_123_987_654_321
CAM_FROM_WORLD = Pose(Rotation.from_rotvec([0.2, -0.4, 1.0]).as_matrix(), [3.0, -2.0, 10.0])
COVARIANCE = np.arange(36, dtype=float).reshape(6, 6) * 1e-4 + np.eye(6) * 1e-2
FIX = Fix(STAMP, "map", "camera", published_pose(CAM_FROM_WORLD, COVARIANCE + COVARIANCE.T), None)


def roundtrip(msg):
    return STORE.deserialize_cdr(STORE.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def test_pose_with_covariance_stamped_fields():
    msg = roundtrip(pose_with_covariance_stamped(FIX, STORE))
    assert msg.__msgtype__ == "geometry_msgs/msg/PoseWithCovarianceStamped"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_123, 987_654_321)
    assert msg.header.frame_id == "map"
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    assert np.allclose([p.x, p.y, p.z], CAM_FROM_WORLD.center)
    R = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    assert np.allclose(R, CAM_FROM_WORLD.R.T) and q.w >= 0
    # Row-major 36 values: element (i, j) at 6 i + j, ROS order (x, y, z, rot x, rot y, rot z).
    assert msg.pose.covariance.shape == (36,)
    assert msg.pose.covariance[6 * 1 + 4] == pytest.approx(FIX.pose.covariance[1, 4])
    assert np.allclose(covariance_of(msg), FIX.pose.covariance)


def test_transform_stamped_and_back():
    map_from_odom = Pose(Rotation.from_rotvec([0.0, 0.0, 0.7]).as_matrix(), [5.0, 6.0, 0.5])
    msg = roundtrip(transform_stamped(Transform("map", "odom", map_from_odom, STAMP), STORE))
    assert (msg.header.frame_id, msg.child_frame_id) == ("map", "odom")
    assert msg.header.stamp.nanosec == 987_654_321
    assert np.allclose(pose_from_transform(msg.transform).matrix, map_from_odom.matrix)


def test_diagnostic_array():
    diagnostic = Diagnostic("WARN", "localizing 40% of processed frames", {"fixes": "4", "map_loaded": "True"})
    msg = roundtrip(diagnostic_array(diagnostic, "/localizer: localization", "s2dhm_ros", STAMP, STORE))
    (status,) = msg.status
    assert status.level == 1 and status.name == "/localizer: localization" and status.hardware_id == "s2dhm_ros"
    assert {kv.key: kv.value for kv in status.values} == {"fixes": "4", "map_loaded": "True"}


def test_builders_work_with_rclpy_message_classes():
    """rclpy's generated classes, field types checked (ROS_PYTHON_CHECK_FIELDS=1, set by test/conftest.py)."""
    real_ros.import_rclpy()
    types = RclpyTypes()
    pose = pose_with_covariance_stamped(FIX, types)
    from geometry_msgs.msg import PoseWithCovarianceStamped, TransformStamped
    assert isinstance(pose, PoseWithCovarianceStamped)
    assert pose.header.stamp.sec == 1_700_000_123 and pose.header.frame_id == "map"
    assert np.allclose(pose.pose.covariance.reshape(6, 6), FIX.pose.covariance)
    tf = transform_stamped(Transform("map", "odom", CAM_FROM_WORLD, STAMP), types)
    assert isinstance(tf, TransformStamped)
    assert np.allclose(pose_from_transform(tf.transform).matrix, CAM_FROM_WORLD.matrix)
    status = diagnostic_array(Diagnostic("ERROR", "no map loaded", {}), "n", "h", STAMP, types).status[0]
    assert status.level == b"\x02"  # rclpy's `byte` constants are bytes
    with pytest.raises(KeyError, match="no ROS message class"):
        types.types["geometry_msgs/msg/NoSuchThing"]


def test_ros_free_modules_do_not_import_rclpy():
    code = ("import sys, s2dhm_ros.ros, s2dhm_ros.ros.messages, s2dhm_ros.ros.parameters, "
            "s2dhm_ros.ros.launch_parameters; "
            "print([m for m in ('rclpy', 'tf2_ros', 'cv_bridge', 'rcl_interfaces') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
