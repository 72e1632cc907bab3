"""BagWriter round trips through rosbags' reader (sqlite3 and mcap), Humble-readable metadata, the message builders'
fields, atomic writing."""
import sqlite3
from contextlib import closing

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader
from scipy.spatial.transform import Rotation

from bag_helpers import pose_from_fields, read_messages

from s2dhm_ros.geometry import Camera, Pose
from s2dhm_ros.io.bag_writer import (BagWriter, camera_info_msg, odometry_msg, pose_with_covariance_stamped_msg,
                                     stamp_ns_of, tf_message, transform_stamped_msg)

T0 = 1_700_000_000_123_456_789
CAMERA = Camera("OPENCV", 640, 480, (500.0, 505.0, 320.0, 240.0, -0.1, 0.01, 0.001, -0.002))


def _pose(seed: int) -> Pose:
    rng = np.random.default_rng(seed)
    return Pose(Rotation.random(random_state=seed).as_matrix(), rng.normal(0, 3, 3))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_round_trip(tmp_path, storage):
    cov = np.arange(36, dtype=float).reshape(6, 6)
    path = tmp_path / "bag"
    with BagWriter(path, storage) as bag:
        bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", latched=True)
        bag.write("/tf_static", tf_message([transform_stamped_msg("base_link", "cam", _pose(0), T0)]), T0)
        for k in range(3):
            stamp = T0 + k * 50_000_000
            bag.write("/camera_info", camera_info_msg(CAMERA, stamp, "cam"), stamp)
            bag.write("/tf", tf_message([transform_stamped_msg("map", "odom", _pose(1), stamp),
                                         transform_stamped_msg("odom", "base_link", _pose(2 + k), stamp)]), stamp)
            bag.write("/odom", odometry_msg("odom", "base_link", stamp, _pose(2 + k), (1.0, 0.0, 0.0),
                                            (0.0, 0.0, 0.1)), stamp)
        bag.write("/pose", pose_with_covariance_stamped_msg("map", T0, _pose(9), cov), T0)
        assert sorted(bag.topics) == ["/camera_info", "/odom", "/pose", "/tf", "/tf_static"]
    assert [p.name for p in tmp_path.iterdir()] == ["bag"]  # no temp dir left behind
    msgs = read_messages(path)
    assert {t: len(m) for t, m in msgs.items()} == {"/tf_static": 1, "/camera_info": 3, "/tf": 3, "/odom": 3,
                                                     "/pose": 1}

    stamp, info = msgs["/camera_info"][1]
    assert stamp == stamp_ns_of(info.header.stamp) == T0 + 50_000_000
    assert info.header.frame_id == "cam" and (info.width, info.height) == (640, 480)
    assert info.distortion_model == "plumb_bob"
    np.testing.assert_allclose(info.k, [500, 0, 319.5, 0, 505, 239.5, 0, 0, 1])  # ROS pixel centres at integers
    np.testing.assert_allclose(info.p, [500, 0, 319.5, 0, 0, 505, 239.5, 0, 0, 0, 1, 0])
    np.testing.assert_allclose(info.r, np.eye(3).ravel())
    np.testing.assert_allclose(info.d, [-0.1, 0.01, 0.001, -0.002, 0.0])

    _, tf = msgs["/tf"][2]
    odom_to_base = tf.transforms[1]
    assert (odom_to_base.header.frame_id, odom_to_base.child_frame_id) == ("odom", "base_link")
    got = pose_from_fields(odom_to_base.transform.translation, odom_to_base.transform.rotation)
    np.testing.assert_allclose(got.matrix, _pose(4).matrix, atol=1e-12)

    _, odom = msgs["/odom"][0]
    assert (odom.header.frame_id, odom.child_frame_id) == ("odom", "base_link")
    np.testing.assert_allclose(pose_from_fields(odom.pose.pose.position, odom.pose.pose.orientation).matrix,
                               _pose(2).matrix, atol=1e-12)
    assert odom.twist.twist.linear.x == 1.0 and odom.twist.twist.angular.z == 0.1

    _, pose = msgs["/pose"][0]
    assert pose.header.frame_id == "map"
    np.testing.assert_array_equal(pose.pose.covariance, cov.ravel())
    np.testing.assert_allclose(pose_from_fields(pose.pose.pose.position, pose.pose.pose.orientation).matrix,
                               _pose(9).matrix, atol=1e-12)

    with AnyReader([path]) as reader:
        static = next(c for c in reader.connections if c.topic == "/tf_static")
        assert "transient_local" in str(static.ext.offered_qos_profiles).lower()


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_metadata_is_version_8_with_qos_as_yaml_strings(tmp_path, storage):
    """Humble's rosbag2 reads offered_qos_profiles as a string of YAML with numeric policies (version 9's YAML list
    fails with "yaml-cpp: bad conversion"), from metadata.yaml and, for sqlite3, from the database's topics table."""
    path = tmp_path / "bag"
    with BagWriter(path, storage) as bag:
        bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", latched=True)
        bag.write("/tf_static", tf_message([transform_stamped_msg("base_link", "cam", _pose(0), T0)]), T0)
        bag.write("/tf", tf_message([transform_stamped_msg("map", "odom", _pose(1), T0)]), T0)
    info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 8
    qos = {t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"]
           for t in info["topics_with_message_count"]}
    assert set(qos) == {"/tf_static", "/tf"} and all(type(q) is str for q in qos.values())
    assert qos["/tf"] == ""  # no QoS offered: `ros2 bag play` uses its default
    profiles = yaml.safe_load(qos["/tf_static"])
    assert isinstance(profiles, list) and len(profiles) == 1
    assert set(profiles[0]) == {"history", "depth", "reliability", "durability", "deadline", "lifespan", "liveliness",
                                "liveliness_lease_duration", "avoid_ros_namespace_conventions"}
    # rmw enum values: keep_last, reliable, transient_local, automatic.
    assert [profiles[0][k] for k in ("history", "depth", "reliability", "durability", "liveliness")] == [1, 1, 1, 1, 1]
    if storage == "sqlite3":
        with closing(sqlite3.connect(next(path.glob("*.db3")))) as db:
            assert dict(db.execute("SELECT name, offered_qos_profiles FROM topics")) == qos


@pytest.mark.parametrize("model, params, distortion_model, d", [
    ("PINHOLE", (400, 400, 320, 240), "plumb_bob", [0, 0, 0, 0, 0]),
    ("FULL_OPENCV", (400, 400, 320, 240, 1, 2, 3, 4, 5, 6, 7, 8), "rational_polynomial", [1, 2, 3, 4, 5, 6, 7, 8]),
    ("OPENCV_FISHEYE", (400, 400, 320, 240, 0.1, 0.2, 0.3, 0.4), "equidistant", [0.1, 0.2, 0.3, 0.4]),
])
def test_camera_info_models(model, params, distortion_model, d):
    msg = camera_info_msg(Camera(model, 640, 480, params), T0, "cam")
    assert msg.distortion_model == distortion_model
    np.testing.assert_allclose(msg.d, d)
    np.testing.assert_allclose(msg.k[[0, 2, 4, 5]], [400, 319.5, 400, 239.5])


def test_camera_info_reads_back_with_the_project_reader():
    from s2dhm_ros.io.camera_info import camera_from_camera_info
    back = camera_from_camera_info(camera_info_msg(CAMERA, T0, "cam"))
    assert back.model == CAMERA.model
    np.testing.assert_allclose(back.params, CAMERA.params, atol=1e-12)


def test_exception_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with BagWriter(tmp_path / "bag", "mcap") as bag:
            bag.write("/tf", tf_message([transform_stamped_msg("map", "odom", _pose(1), T0)]), T0)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_refuses_existing_target_and_wrong_types(tmp_path):
    (tmp_path / "bag").mkdir()
    with pytest.raises(FileExistsError):
        with BagWriter(tmp_path / "bag"):
            pass
    with pytest.raises(ValueError, match="storage"):
        BagWriter(tmp_path / "other", "rosbag1")
    with pytest.raises(TypeError, match="carries"):
        with BagWriter(tmp_path / "other") as bag:
            bag.write("/x", tf_message([]), T0)
            bag.write("/x", camera_info_msg(CAMERA, T0, "cam"), T0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag"]
