"""End to end without ROS: a map built from the synthetic day bag (the map_builder's code path), the `localizer`
node (on the rclpy stand-in) fed the night bag's messages as `ros2 bag play` would, TF answered from the bag.
The published base_link poses and map->odom transforms must match the ground truth."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import fake_rclpy
from fake_rclpy.messages import from_rosbags
from s2dhm_ros.config import MapBuilderConfig
from s2dhm_ros.geometry import Pose, pose_error
from s2dhm_ros.io.bag_reader import BagReader
from s2dhm_ros.io.bag_source import BagSourceConfig
from s2dhm_ros.io.tf_buffer import TfBuffer
from s2dhm_ros.ros.messages import RclpyTypes, pose_from_transform, transform_stamped
from s2dhm_ros.runtime.fix import Transform
from s2dhm_ros.runtime.map_from_bag import build_map_from_bag
from s2dhm_ros.runtime.node_config import MapBuilderNodeConfig
from s2dhm_ros.synthetic.street_bag import make_street_bags


@pytest.fixture(scope="module")
def street(tmp_path_factory):
    root = tmp_path_factory.mktemp("street")
    dataset = make_street_bags(root, num_frames=12, num_night_frames=3, image_size=(320, 240))
    report = build_map_from_bag(MapBuilderNodeConfig(bag=str(dataset.day.bag), output=str(root / "map"),
                                                     source=BagSourceConfig(image_topic=dataset.topics.image)),
                                MapBuilderConfig(), progress=False)
    assert report.bag.kept == 12 and report.build.points3D > 100
    return dataset, root / "map"


def test_node_localizes_the_night_bag(street, monkeypatch):
    dataset, map_dir = street
    fake_rclpy.install(monkeypatch)
    from s2dhm_ros.ros.localizer_node import LocalizerNode

    topics = dataset.topics
    with BagReader(dataset.night.bag) as bag:
        tf = TfBuffer.from_messages((m.msg, m.topic == topics.tf_static)
                                    for m in bag.messages([topics.tf, topics.tf_static]))
        stream = [(m.topic, from_rosbags(m.msg)) for m in bag.messages([topics.image, topics.camera_info])]

    node = LocalizerNode(parameter_overrides=[fake_rclpy.Parameter("map", value=str(map_dir))])

    def lookup_transform(target, source, time, timeout=None):
        pose = tf.lookup(target, source, time.nanoseconds)
        return transform_stamped(Transform(target, source, pose, time.nanoseconds), RclpyTypes())

    node._tf_buffer.lookup_transform = lookup_transform
    try:
        for topic, msg in stream:
            node.subscriptions["/image" if topic == topics.image else "/camera_info"].callback(msg)
            assert node._worker.wait_idle(timeout=30.0)
    finally:
        node.shutdown()

    poses = node.publishers["/localizer/pose"].published
    assert len(poses) == len(dataset.night.stamps_ns) == 3 and node._worker.counters.dropped == 0
    for msg, sent in zip(poses, node._tf_broadcaster.sent):
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        truth = dataset.night.cam_from_world[dataset.night.stamps_ns.index(stamp)]
        map_from_base = truth.inverse() * dataset.base_from_camera.inverse()
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        estimate = Pose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), [p.x, p.y, p.z])
        dt, dr = pose_error(estimate.inverse(), map_from_base.inverse())
        assert dt < 1.0 and dr < 3.0, (dt, dr)
        assert msg.header.frame_id == "map" and np.all(np.diag(msg.pose.covariance.reshape(6, 6)) > 0)
        assert (sent.header.frame_id, sent.child_frame_id) == ("map", "odom")
        true_map_from_odom = tf.lookup("map", "odom", stamp)
        assert np.linalg.norm(pose_from_transform(sent.transform).t - true_map_from_odom.t) < 1.0
