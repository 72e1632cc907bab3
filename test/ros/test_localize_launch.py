"""launch_testing: localize.launch.py with a demo map localizes a replayed bag and publishes a pose.

Needs a ROS 2 installation (rclpy, launch_testing, `ros2 bag play`): it runs in the ros:humble and ros:jazzy CI
(.github/workflows/ros.yml) and is skipped elsewhere. The demo data is generated here: the synthetic street's bags
(s2dhm_ros.synthetic) and a map built from the day bag with the map_builder's own code path.

Playback does not start after a fixed delay: the node imports torch and loads the map before it is of any use, which
a slow CI container may take longer for than the whole bag lasts. It starts when the node logs that its map is
loaded (launch's OnProcessIO, s2dhm_ros.ros.launch_events), and loops (`--loop`), so that frames published before
DDS discovery has matched the bag player with the node are sent again.
"""
import os
import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip(
    "launch_testing", reason="launch_testing is not installed: this ROS 2 launch test runs in the ROS CI containers")
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed: this ROS 2 launch test needs a ROS 2 install")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from geometry_msgs.msg import PoseWithCovarianceStamped  # noqa: E402
from launch.actions import ExecuteProcess, IncludeLaunchDescription, RegisterEventHandler  # noqa: E402
from launch.event_handlers import OnProcessIO  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from s2dhm_ros.config import MapBuilderConfig  # noqa: E402
from s2dhm_ros.io.bag_source import BagSourceConfig  # noqa: E402
from s2dhm_ros.ros.launch_events import MAP_LOADED, OutputTrigger  # noqa: E402
from s2dhm_ros.runtime.map_from_bag import build_map_from_bag  # noqa: E402
from s2dhm_ros.runtime.node_config import MapBuilderNodeConfig  # noqa: E402
from s2dhm_ros.synthetic.street_bag import make_street_bags  # noqa: E402

POSE_TIMEOUT_S = 180.0


def _demo_data(root: Path) -> tuple[Path, Path]:
    """(bag to replay, map directory): a short day drive, mapped, then replayed as the query stream."""
    dataset = make_street_bags(root, num_frames=30, num_night_frames=2, image_size=(320, 240))
    map_dir = root / "map"
    build_map_from_bag(MapBuilderNodeConfig(bag=str(dataset.day.bag), output=str(map_dir),
                                            source=BagSourceConfig(image_topic=dataset.topics.image)),
                       MapBuilderConfig(), progress=False)
    return dataset.day.bag, map_dir


@pytest.mark.launch_test
def generate_test_description():
    bag, map_dir = _demo_data(Path(tempfile.mkdtemp(prefix="s2dhm_launch_test_")))
    localize = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory("s2dhm_ros"), "launch",
                                                   "localize.launch.py")),
        # The bag carries its own map->odom: the localizer must not publish another.
        launch_arguments={"map": str(map_dir), "use_sim_time": "true", "publish_tf": "false"}.items())
    # --loop: the bag (3 s at 10 Hz, 6 s at --rate 0.5) replays until the test has its pose and launch_testing
    # shuts the launch down; /tf_static is recorded latched, so every loop carries the camera extrinsic again.
    play = ExecuteProcess(cmd=["ros2", "bag", "play", str(bag), "--clock", "--rate", "0.5", "--loop"],
                          output="screen")
    start_play = OutputTrigger(MAP_LOADED, [play])  # once, on the localizer's "map ... loaded" log line
    return launch.LaunchDescription([
        # Registered before the node starts, so that none of its output is missed.
        RegisterEventHandler(OnProcessIO(on_stdout=start_play, on_stderr=start_play)),
        localize,
        launch_testing.actions.ReadyToTest(),
    ])


class TestPoseArrives(unittest.TestCase):
    def test_a_pose_is_published_in_the_map_frame(self):
        rclpy.init()
        node = rclpy.create_node("s2dhm_launch_test_listener")
        received = []
        node.create_subscription(PoseWithCovarianceStamped, "/localizer/pose", received.append, 10)
        try:
            deadline = time.monotonic() + POSE_TIMEOUT_S
            while not received and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.5)
        finally:
            node.destroy_node()
            rclpy.shutdown()
        self.assertTrue(received, f"no pose on /localizer/pose within {POSE_TIMEOUT_S} s")
        pose = received[0]
        self.assertEqual(pose.header.frame_id, "map")
        self.assertGreater(pose.header.stamp.sec, 0)
        self.assertTrue(all(pose.pose.covariance[i * 7] > 0 for i in range(6)))
