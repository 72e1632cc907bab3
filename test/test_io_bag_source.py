"""frames_from_bag end to end on tiny generated bags: planted poses, skip counts, pose topics, lazy images."""
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2dhm_ros.geometry import Camera, Pose
from s2dhm_ros.io.bag_reader import TopicError
from s2dhm_ros.io.bag_source import BagSourceConfig, frames_from_bag, iter_bag_images
from s2dhm_ros.io.bag_writer import (BagWriter, camera_info_msg, odometry_msg, tf_message,
                                     transform_stamped_msg)
from s2dhm_ros.io.images import image_to_msg
from s2dhm_ros.io.tf_buffer import TransformChainError

S = 1_000_000_000
T0 = 1_700_000_000 * S
CAMERA = Camera("PINHOLE", 16, 12, (20.0, 20.0, 8.0, 6.0))
MAP_FROM_ODOM = Pose(Rotation.from_euler("z", 0.4).as_matrix(), [3.0, 1.0, 0.0])
BASE_FROM_CAMERA = Pose(Rotation.from_euler("xyz", [-90, 0, -90], degrees=True).as_matrix(), [1.5, 0.0, 1.2])
IMAGE_STAMPS = [T0 + 13 * S // 1000 + k * S // 10 for k in range(10)]  # 0.013 s + k * 0.1 s
TF_STAMPS = [T0 + k * 40 * S // 1000 for k in range(19)]  # every 0.04 s up to 0.72 s


def odom_from_base(stamp_ns: int) -> Pose:
    t = (stamp_ns - T0) / S  # 2 m/s straight ahead while turning slowly: interpolation is exact
    return Pose(Rotation.from_euler("z", 0.05 * t).as_matrix(), [2.0 * t, 0.0, 0.0])


def true_cam_from_map(stamp_ns: int) -> Pose:
    return (MAP_FROM_ODOM * odom_from_base(stamp_ns) * BASE_FROM_CAMERA).inverse()


def image(k: int) -> np.ndarray:
    return np.full((12, 16, 3), (10 * k, 100, 200 - 10 * k), np.uint8)


def write_bag(path: Path, storage: str = "sqlite3") -> Path:
    events = [(s, "img", k) for k, s in enumerate(IMAGE_STAMPS)] + [(s, "tf", k) for k, s in enumerate(TF_STAMPS)]
    with BagWriter(path, storage=storage) as bag:
        bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", latched=True)
        bag.write("/tf_static", tf_message([transform_stamped_msg("map", "odom", MAP_FROM_ODOM, T0),
                                            transform_stamped_msg("base_link", "camera", BASE_FROM_CAMERA, T0)]), T0)
        for stamp, kind, k in sorted(events):
            if kind == "img":
                bag.write("/cam/image_raw", image_to_msg(image(k), stamp, "camera"), stamp)
                bag.write("/cam/camera_info", camera_info_msg(CAMERA, stamp, "camera"), stamp)
            else:
                bag.write("/tf", tf_message([transform_stamped_msg("odom", "base_link", odom_from_base(stamp),
                                                                   stamp)]), stamp)
                bag.write("/odom", odometry_msg("map", "base_link", stamp, MAP_FROM_ODOM * odom_from_base(stamp)),
                          stamp)
    return path


@pytest.fixture(scope="module", params=["sqlite3", "mcap"])
def bag(request, tmp_path_factory) -> Path:
    return write_bag(tmp_path_factory.mktemp(request.param) / "street", request.param)


def check_frames(frames, expected_indices):
    assert [f.stamp_ns for f in frames] == [IMAGE_STAMPS[k] for k in expected_indices]
    for f in frames:
        truth = true_cam_from_map(f.stamp_ns)
        assert np.abs(f.cam_from_world.R - truth.R).max() < 1e-9
        assert np.abs(f.cam_from_world.t - truth.t).max() < 1e-9
        assert f.camera == CAMERA


def test_tf_poses_keyframes_and_skip_counts(bag):
    config = BagSourceConfig(image_topic="/cam/image_raw", keyframe_min_distance_m=0.5)
    frames, stats = frames_from_bag(bag, config)
    # Images 8 and 9 are beyond the TF data by more than 0.05 s; of 0..7, 0, 3, 6 moved >= 0.5 m.
    check_frames(frames, [0, 3, 6])
    assert (stats.images_total, stats.images_seen, stats.skipped_no_pose, stats.skipped_keyframe, stats.kept,
            stats.skipped_stride) == (10, 10, 2, 5, 3, 0)
    assert frames[1].name == f"cam/image_raw/{IMAGE_STAMPS[3]}"
    assert np.array_equal(frames[1].load(), image(3))
    # What was resolved from the bag (the map records it): the default CameraInfo topic, the header's frame.
    assert stats.intrinsics_source == "/cam/camera_info" and stats.camera_frames == ("camera",)


def test_stride_and_time_range(bag):
    config = BagSourceConfig(image_topic="/cam/image_raw", keyframe_min_distance_m=0.0, keyframe_min_angle_deg=0.0,
                             stride=2, start_s=0.25)
    frames, stats = frames_from_bag(bag, config)
    # From 0.25 s: images 3..9 seen; stride keeps 3, 5, 7, 9; image 9 has no pose.
    check_frames(frames, [3, 5, 7])
    assert (stats.images_seen, stats.skipped_stride, stats.skipped_no_pose, stats.kept) == (7, 3, 1, 3)


@pytest.mark.parametrize("extrinsic", ["given", "tf_static"])
def test_pose_topic_with_extrinsic(bag, extrinsic):
    x, y, z, w = Rotation.from_matrix(BASE_FROM_CAMERA.R).as_quat()
    config = BagSourceConfig(image_topic="/cam/image_raw", pose_topic="/odom", keyframe_min_distance_m=0.0,
                             keyframe_min_angle_deg=0.0,
                             body_from_camera=[*BASE_FROM_CAMERA.t, x, y, z, w] if extrinsic == "given" else None)
    frames, stats = frames_from_bag(bag, config)
    check_frames(frames, range(8))
    assert stats.skipped_no_pose == 2


def test_clear_errors(bag):
    with pytest.raises(TopicError, match="/cam/image_raw"):
        frames_from_bag(bag, BagSourceConfig(image_topic="/front/image_raw"))
    with pytest.raises(TransformChainError, match="frame .earth. is not in the TF data"):
        frames_from_bag(bag, BagSourceConfig(image_topic="/cam/image_raw", map_frame="earth"))
    with pytest.raises(ValueError, match="set map_frame to 'map'"):
        frames_from_bag(bag, BagSourceConfig(image_topic="/cam/image_raw", pose_topic="/odom", map_frame="odom"))


def test_iter_bag_images(bag):
    items = list(iter_bag_images(bag, "/cam/image_raw"))
    assert [s for s, *_ in items] == IMAGE_STAMPS
    stamp, img, camera, frame_id = items[4]
    assert np.array_equal(img, image(4)) and camera == CAMERA and frame_id == "camera"


def test_ros1_bag(tmp_path):
    """ROS 1 .bag files read through the same path (CameraInfo fields are upper case there)."""
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    ros1 = get_typestore(Stores.ROS1_NOETIC)
    types = ros1.types
    header = types["std_msgs/msg/Header"](seq=0, stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=5),
                                          frame_id="camera")
    info = types["sensor_msgs/msg/CameraInfo"](
        header=header, height=12, width=16, distortion_model="plumb_bob", D=np.zeros(5),
        K=np.array([20.0, 0, 7.5, 0, 20.0, 5.5, 0, 0, 1]), R=np.eye(3).ravel(), P=np.zeros(12), binning_x=0,
        binning_y=0, roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                                  do_rectify=False))
    path = tmp_path / "old.bag"
    with Writer(path) as writer:
        for topic, msg in (("/cam/camera_info", info), ("/cam/image_raw", image_to_msg(image(2), S + 5, "camera",
                                                                                        typestore=ros1))):
            connection = writer.add_connection(topic, msg.__msgtype__, typestore=ros1)
            writer.write(connection, S + 5, ros1.serialize_ros1(msg, msg.__msgtype__))
    [(stamp, img, camera, frame_id)] = list(iter_bag_images(path, "/cam/image_raw"))
    assert stamp == S + 5 and frame_id == "camera" and camera == CAMERA and np.array_equal(img, image(2))
