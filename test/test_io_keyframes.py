"""Keyframe selection by travelled distance and rotation."""
import pytest
from scipy.spatial.transform import Rotation

from s2dhm_ros.geometry import Pose
from s2dhm_ros.io.keyframes import select_keyframes


def cam_at(x: float, yaw_deg: float = 0.0) -> Pose:
    """cam_from_world of a camera at (x, 0, 0) turned by yaw_deg."""
    world_from_cam = Pose(Rotation.from_euler("y", yaw_deg, degrees=True).as_matrix(), [x, 0.0, 0.0])
    return world_from_cam.inverse()


def test_distance_and_angle():
    poses = [cam_at(0.3 * i) for i in range(10)]  # 0, 0.3, ..., 2.7 m
    assert select_keyframes(poses, 1.0, 10.0) == [0, 4, 8]  # 1.2 m and 2.4 m since the last kept
    turning = [cam_at(0.0, 4.0 * i) for i in range(6)]  # 0..20 degrees on the spot
    assert select_keyframes(turning, 1.0, 10.0) == [0, 3]
    assert select_keyframes(poses, 0.0, 0.0) == list(range(10))


def test_negative_threshold_is_rejected():
    with pytest.raises(ValueError):
        select_keyframes([cam_at(0)], -1.0, 10.0)
