"""The `localizer` node with `image_transport: compressed`, in its own process, fed sensor_msgs/CompressedImage
(JPEG and PNG) and CameraInfo from a bag over real DDS: every published pose must be the library's pose on the
decoded image (the same decoder, `io.images.image_from_msg`, on both sides), within 1 mm and 0.01 degree.

The prior, the base frame and TF are off, so that the node publishes the camera's pose from global retrieval,
exactly what `Localizer.localize` computes, with no transform between them.
"""
import time
from pathlib import Path

import numpy as np
import pytest

import real_ros

rclpy = real_ros.import_rclpy()

from geometry_msgs.msg import PoseWithCovarianceStamped  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage  # noqa: E402

from s2dhm_ros.config import LocalizerConfig  # noqa: E402
from s2dhm_ros.geometry import Pose  # noqa: E402
from s2dhm_ros.io.bag_reader import BagReader  # noqa: E402
from s2dhm_ros.io.bag_writer import BagWriter, stamp_ns_of  # noqa: E402
from s2dhm_ros.io.camera_info import camera_from_camera_info  # noqa: E402
from s2dhm_ros.io.images import compressed_image_to_msg, image_from_msg  # noqa: E402
from s2dhm_ros.localizer import Localizer  # noqa: E402
from s2dhm_ros.ros.launch_events import MAP_LOADED  # noqa: E402

IMAGE_TOPIC, INFO_TOPIC = "/cam/image_raw/compressed", "/cam/camera_info"
FORMATS = ("jpeg", "png")  # night image i is recorded in FORMATS[i]
START_TIMEOUT_S = 120.0
FRAME_TIMEOUT_S = 60.0
DISCOVERY_SETTLE_S = 1.0  # see test_ros_localizer_node_e2e.py


def write_compressed_bag(street, path: Path) -> None:
    """The night bag's first images as CompressedImage (night image i in FORMATS[i]) with their CameraInfo."""
    topics = street.dataset.topics
    with BagReader(street.dataset.night.bag) as night:
        images = list(night.messages([topics.image]))[:len(FORMATS)]
        infos = list(night.messages([topics.camera_info]))[:len(FORMATS)]
    with BagWriter(path) as bag:
        bag.add_topic(IMAGE_TOPIC, "sensor_msgs/msg/CompressedImage")
        bag.add_topic(INFO_TOPIC, "sensor_msgs/msg/CameraInfo")
        for fmt, image, info in zip(FORMATS, images, infos):
            header = image.msg.header
            msg = compressed_image_to_msg(image_from_msg(image.msg), stamp_ns_of(header.stamp), header.frame_id, fmt)
            bag.write(IMAGE_TOPIC, msg, image.bag_stamp_ns)
            bag.write(INFO_TOPIC, info.msg, info.bag_stamp_ns)


@pytest.fixture(scope="module")
def compressed(ros_street, tmp_path_factory):
    root = tmp_path_factory.mktemp("compressed")
    write_compressed_bag(ros_street, root / "night_compressed")
    params = root / "localizer.yaml"
    params.write_text(f"localizer:\n  ros__parameters:\n    map: {ros_street.map_dir}\n"
                      "    image_transport: compressed\n    base_frame: ''\n    odom_frame: ''\n"
                      "    publish_tf: false\n    publish_map: false\n    prior:\n      enabled: false\n")
    node = real_ros.NodeProcess("s2dhm_ros.ros.localizer_node", [
        "--ros-args", "--params-file", str(params), "-r", f"image:={IMAGE_TOPIC}", "-r", f"camera_info:={INFO_TOPIC}"])
    probe = real_ros.Probe("s2dhm_test_compressed_probe")
    try:
        yield root / "night_compressed", node, probe
    finally:
        probe.close()
        node.close()
        print(f"--- the node's output ---\n{node.output}")  # shown by pytest when the test failed


def test_jpeg_and_png_over_dds_give_the_librarys_pose_on_the_decoded_image(compressed, ros_street):
    bag_path, node, probe = compressed
    bag = real_ros.BagMessages(bag_path, [IMAGE_TOPIC, INFO_TOPIC])
    images, infos = bag.on(IMAGE_TOPIC), bag.on(INFO_TOPIC)
    assert [m.format for m in images] == list(FORMATS)
    localizer = Localizer.from_map(ros_street.map_dir, LocalizerConfig())
    expected = [localizer.localize(image_from_msg(image), camera_from_camera_info(info, False))
                for image, info in zip(images, infos)]
    assert all(r.success for r in expected), [r.failure_reason for r in expected]

    poses = probe.record("/localizer/pose", PoseWithCovarianceStamped)
    image_pub, info_pub = probe.publisher(CompressedImage, IMAGE_TOPIC), probe.publisher(CameraInfo, INFO_TOPIC)
    node.wait_for_line(MAP_LOADED.pattern, START_TIMEOUT_S)
    for publisher, what in ((image_pub, "image"), (info_pub, "camera_info")):
        real_ros.wait_for(lambda: publisher.get_subscription_count() > 0, 30.0, f"the node subscribing to {what}")
    real_ros.wait_for(lambda: probe.node.count_publishers("/localizer/pose") > 0, 30.0, "~/pose")
    time.sleep(DISCOVERY_SETTLE_S)

    for image, info, library in zip(images, infos, expected):
        count = len(poses)
        info_pub.publish(info)
        image_pub.publish(image)
        real_ros.wait_for(lambda: len(poses) > count, FRAME_TIMEOUT_S, f"the pose of the {image.format} image")
        msg = poses[-1]
        assert real_ros.stamp_ns(msg) == real_ros.stamp_ns(image) and msg.header.frame_id == "map"
        estimate = Pose.from_message_fields(msg.pose.pose.position, msg.pose.pose.orientation)
        map_from_camera = library.cam_from_world.inverse()
        assert np.linalg.norm(estimate.t - map_from_camera.t) < 1e-3, (image.format, estimate.t, map_from_camera.t)
        rotation_error = estimate.R.T @ map_from_camera.R
        angle_deg = np.degrees(np.arccos(np.clip((np.trace(rotation_error) - 1) / 2, -1.0, 1.0)))
        assert angle_deg < 0.01, (image.format, angle_deg)
