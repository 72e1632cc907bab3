"""The localizer node's navigation interface on real rclpy, in its own process over real DDS: a service call before
the map is loaded, the map shown latched, `initialpose` in the wrong frame or with NaN (a clear message, the node
lives on), reinitialize_global_localization, trigger mode (one fix per request), pause/resume, `~/fix_quality`
per frame, and `~/pose` latched like amcl_pose (a late subscriber gets the last fix)."""
import math
import time

import numpy as np
import pytest

real_ros = pytest.importorskip("real_ros", reason="needs test/real_ros.py, the real-rclpy test harness")
rclpy = real_ros.import_rclpy()

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseArray, PoseWithCovarianceStamped  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402
from std_srvs.srv import Empty, Trigger  # noqa: E402

from s2dhm_ros.map_format import SparseMap  # noqa: E402
from s2dhm_ros.ros.launch_events import MAP_LOADED  # noqa: E402
from s2dhm_ros.ros.messages import covariance_of  # noqa: E402

START_TIMEOUT_S = 120.0
FRAME_TIMEOUT_S = 90.0
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture(scope="module")
def run(ros_street, tmp_path_factory):
    params = tmp_path_factory.mktemp("params") / "localizer.yaml"
    # No map at start; the camera's own pose (no base/odom frames: no TF needed); frames only on request.
    params.write_text("localizer:\n  ros__parameters:\n    map: ''\n    base_frame: ''\n    odom_frame: ''\n"
                      "    publish_tf: false\n    enable_continuous_localization: false\n")
    node = real_ros.NodeProcess("s2dhm_ros.ros.localizer_node", ["--ros-args", "--params-file", str(params)])
    probe = real_ros.Probe("s2dhm_nav_probe")
    try:
        yield node, probe
    finally:
        probe.close()
        node.close()
        print(f"--- the node's output ---\n{node.output}")


def values_of(array_msg):
    return {kv.key: kv.value for kv in array_msg.status[0].values}


def test_navigation_interface_over_dds(run, ros_street):
    node, probe = run
    dataset, library = ros_street.dataset, ros_street.library
    from s2dhm_ros.io.bag_reader import BagReader
    with BagReader(dataset.night.bag) as bag:
        images = [m.msg for m in bag.messages([dataset.topics.image])]
        infos = [m.msg for m in bag.messages([dataset.topics.camera_info])]
    from s2dhm_ros.ros.messages import RclpyTypes  # rosbags messages -> rclpy ones, through the project's builders
    from s2dhm_ros.io.bag_writer import camera_info_msg
    from s2dhm_ros.io.camera_info import camera_from_camera_info
    rclpy_infos = [camera_info_msg(camera_from_camera_info(m, False), real_ros.stamp_ns(m), m.header.frame_id,
                                   typestore=RclpyTypes()) for m in infos]
    rclpy_images = [Image(header=i.header, height=m.height, width=m.width, encoding=m.encoding,
                          is_bigendian=int(m.is_bigendian), step=m.step, data=bytes(m.data))
                    for m, i in zip(images, rclpy_infos)]

    node.wait_for_line("no map", START_TIMEOUT_S)
    # A service call before the map is loaded: a clear answer, no crash.
    response = probe.call(Trigger, "/localizer/trigger_localization")
    assert not response.success and "no map loaded" in response.message
    probe.call(Empty, "/reinitialize_global_localization")  # works at any time
    initialpose = probe.publisher(PoseWithCovarianceStamped, "/initialpose")
    real_ros.wait_for(lambda: initialpose.get_subscription_count() > 0, 30.0, "the node subscribing to initialpose")
    time.sleep(1.0)
    msg = PoseWithCovarianceStamped()
    msg.header.frame_id = "map"
    msg.pose.pose.orientation.w = 1.0
    msg.pose.covariance = [0.25 if i in (0, 7) else 0.0 for i in range(36)]
    initialpose.publish(msg)
    node.wait_for_line(r"initialpose ignored: no map loaded yet", 30.0)

    # Load the map: set `map` and call ~/reload_map, as a user would.
    value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(ros_street.map_dir))
    result = probe.call(SetParameters, "/localizer/set_parameters",
                        SetParameters.Request(parameters=[Parameter(name="map", value=value)]))
    assert result.results[0].successful
    response = probe.call(Trigger, "/localizer/reload_map", timeout_s=START_TIMEOUT_S)
    assert response.success, response.message
    node.wait_for_line(MAP_LOADED.pattern, 30.0)

    # The map, latched: subscribers created after it was sent still get it.
    points = probe.record("/localizer/map_points", PointCloud2, LATCHED)
    references = probe.record("/localizer/reference_poses", PoseArray, LATCHED)
    real_ros.wait_for(lambda: points and references, 30.0, "the latched map")
    sparse_map = SparseMap.load(ros_street.map_dir)
    cloud = points[0]
    assert (cloud.width, cloud.height, cloud.point_step, cloud.header.frame_id) == (len(sparse_map.points3D), 1, 12,
                                                                                     "map")
    xyz = np.frombuffer(bytes(cloud.data), dtype="<f4").reshape(-1, 3)
    assert np.allclose(xyz, sparse_map.points3D, atol=1e-4)
    centers = np.array([[p.position.x, p.position.y, p.position.z] for p in references[0].poses])
    assert np.allclose(centers, [p.center for p in sparse_map.cam_from_world], atol=1e-6)

    # Bad priors: a clear message, and the node goes on.
    msg.header.frame_id = "odom"
    initialpose.publish(msg)
    node.wait_for_line(r"initialpose ignored: it is in frame 'odom', priors must be in the map frame 'map'", 30.0)
    msg.header.frame_id = "map"
    msg.pose.pose.position.x = math.nan
    initialpose.publish(msg)
    node.wait_for_line(r"initialpose ignored: .*NaN", 30.0)

    # Trigger mode: a frame without a request is skipped (counted), a request gives one fix.
    quality = probe.record("/localizer/fix_quality", DiagnosticArray)
    diagnostics = probe.record("/diagnostics", DiagnosticArray)
    image_pub, info_pub = probe.publisher(Image, "/image"), probe.publisher(CameraInfo, "/camera_info")
    for publisher in (image_pub, info_pub):
        real_ros.wait_for(lambda: publisher.get_subscription_count() > 0, 30.0, "the node subscribing to images")
    time.sleep(1.0)

    def play(i):
        info_pub.publish(rclpy_infos[i])
        image_pub.publish(rclpy_images[i])

    def skipped():
        return [int(values_of(d)["frames_skipped"]) for d in diagnostics if "frames_skipped" in values_of(d)]

    play(0)
    real_ros.wait_for(lambda: any(n >= 1 for n in skipped()), 30.0, "frame 0 skipped (no request)")
    assert quality == []
    response = probe.call(Trigger, "/localizer/trigger_localization")
    assert response.success and "until the next fix" in response.message
    assert library[1].success
    play(1)
    real_ros.wait_for(lambda: quality, FRAME_TIMEOUT_S, "the fix quality of frame 1")
    values = values_of(quality[0])
    assert values["outcome"] == "published" and values["prior"] == "none" and values["candidates"] == "all"
    assert int(values["inliers"]) == library[1].num_inliers and values["reference"] == library[1].reference
    assert real_ros.stamp_ns(quality[0]) == real_ros.stamp_ns(rclpy_images[1])

    # ~/pose latched like amcl_pose: a subscriber that comes after the fix gets it.
    poses = probe.record("/localizer/pose", PoseWithCovarianceStamped, LATCHED)
    real_ros.wait_for(lambda: poses, 30.0, "the latched ~/pose")
    p = poses[0].pose.pose.position
    assert np.allclose([p.x, p.y, p.z], library[1].cam_from_world.center, atol=0.02)
    assert np.all(np.diag(covariance_of(poses[0])) > 0)

    # The request is served: the next frame is skipped again. Paused, even a request localizes nothing.
    before = max(skipped())
    play(2)
    real_ros.wait_for(lambda: max(skipped()) > before, 30.0, "frame 2 skipped (request served)")
    assert probe.call(Trigger, "/localizer/pause").message == "paused"
    assert probe.call(Trigger, "/localizer/pause").message == "already paused"
    assert "paused" in probe.call(Trigger, "/localizer/trigger_localization").message
    assert probe.call(Trigger, "/localizer/resume").message == "resumed"
    probe.call(Empty, "/reinitialize_global_localization")
    node.wait_for_line("prior dropped", 30.0)
    assert node.process.poll() is None  # alive after all of it
