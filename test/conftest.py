"""Shared fixtures."""
import os

import pytest

import real_ros

from s2dhm_ros.frames import Frame
from s2dhm_ros.synthetic.render import render
from s2dhm_ros.synthetic.scene import make_street_scene
from s2dhm_ros.synthetic.street_bag import street_camera
from s2dhm_ros.synthetic.trajectory import Drive, camera_mount

# Before anything imports rclpy or a message package (see test/real_ros.py: domain, field checks, transports).
os.environ.update(real_ros.ENVIRONMENT)


@pytest.fixture(scope="session")
def street():
    """8 posed renderings 1 m apart along the synthetic street, with their depth maps."""
    scene = make_street_scene(length=60.0, seed=1)
    camera = street_camera(320, 240)
    drive = Drive(scene.road, start_s=10.0, speed=1.0, t0_ns=0)
    mount = camera_mount()
    frames, depths = [], []
    for i in range(8):
        map_from_camera = drive.map_from_base(i * 1_000_000_000) * mount
        cam_from_world = map_from_camera.inverse()
        rendering = render(scene, camera, cam_from_world)
        frames.append(Frame(f"{i:03d}.png", camera, (lambda im=rendering.image: im), cam_from_world))
        depths.append(rendering.depth)
    return frames, depths


@pytest.fixture(scope="session")
def ros_street(tmp_path_factory):
    """Bags, map and library results shared by the real-rclpy tests (test/real_ros.py: make_street)."""
    return real_ros.make_street(tmp_path_factory.mktemp("ros_street"))
