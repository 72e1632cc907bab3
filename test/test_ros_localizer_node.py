"""Wiring of the `localizer` node on real rclpy, in this process, with a stand-in Localizer (exact poses):
declared parameters, subscriptions, what is published for a fix and for a failure, TF republishing, services,
diagnostics, main(). Messages are rclpy's own, field types checked (ROS_PYTHON_CHECK_FIELDS=1, test/real_ros.py).
The same node over DDS with a real map, in its own process: test_ros_localizer_node_e2e.py."""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import real_ros

rclpy = real_ros.import_rclpy()

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.exceptions import InvalidParameterTypeException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from rclpy.time import Time  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from s2dhm_ros.config import LocalizerConfig, flatten, to_dict  # noqa: E402
from s2dhm_ros.geometry import Camera, Pose  # noqa: E402
from s2dhm_ros.io.bag_writer import camera_info_msg, header_msg  # noqa: E402
from s2dhm_ros.localizer import LocalizationResult  # noqa: E402
from s2dhm_ros.ros.launch_events import MAP_LOADED  # noqa: E402
from s2dhm_ros.ros.messages import RclpyTypes, covariance_of, transform_stamped  # noqa: E402
from s2dhm_ros.runtime.fix import Transform  # noqa: E402
from s2dhm_ros.runtime.node_config import LocalizerNodeConfig  # noqa: E402
from s2dhm_ros.runtime.pose_output import published_pose  # noqa: E402

CAMERA = Camera("PINHOLE", 64, 48, (50.0, 50.0, 32.0, 24.0))
MAP_FROM_ODOM = Pose(Rotation.from_rotvec([0.0, 0.0, 0.3]).as_matrix(), [10.0, -4.0, 0.0])
ODOM_FROM_BASE = Pose(Rotation.from_rotvec([0.0, 0.0, -1.1]).as_matrix(), [2.0, 1.0, 0.0])
BASE_FROM_CAMERA = Pose(Rotation.from_euler("xyz", [-90, 0, -90], degrees=True).as_matrix(), [1.5, 0.0, 1.2])
CAM_FROM_WORLD = (MAP_FROM_ODOM * ODOM_FROM_BASE * BASE_FROM_CAMERA).inverse()
COVARIANCE = np.diag([1e-5, 2e-5, 3e-5, 1e-3, 2e-3, 3e-3])
STAMP = 1_000_000_000_500_000_000
TYPES = RclpyTypes()


class FakeLocalizer:
    def __init__(self, path, succeed=True):
        self.map = SimpleNamespace(frame_id="map", num_references=7, points3D=np.zeros((5, 3)),
                                   cam_from_world=[CAM_FROM_WORLD] * 7)
        self.path, self.succeed, self.calls = path, succeed, []

    def references_near(self, position, radius_m, axes=(0, 1, 2)):
        return np.arange(7)

    def localize(self, image, camera, candidates=None):
        self.calls.append((image.shape, camera))
        if not self.succeed:
            return LocalizationResult(False, failure_reason="no reference gave a pose with >= 15 inliers (3 matches)")
        return LocalizationResult(True, CAM_FROM_WORLD, COVARIANCE, 42, "ref0", {},
                                  inlier_points2D=np.array([[10.5, 20.5]]))


@pytest.fixture
def ros(monkeypatch):
    from s2dhm_ros.ros import localizer_node
    loaded = []

    def from_map(path, config):
        if "missing" in str(path):
            raise FileNotFoundError(f"no map at {path}")
        loaded.append((path, config))
        return FakeLocalizer(path)

    monkeypatch.setattr(localizer_node.Localizer, "from_map", staticmethod(from_map))
    context = Context()
    rclpy.init(context=context)
    nodes = []
    yield SimpleNamespace(module=localizer_node, loaded=loaded, context=context, nodes=nodes)
    for node in nodes:
        node.shutdown()
        node.destroy_node()
    rclpy.try_shutdown(context=context)


def make_node(ros, namespace=None, now_ns=STAMP, **overrides):
    """The node on simulated time set to `now_ns`, TF filled (camera extrinsic, odometry around STAMP), everything
    it publishes and broadcasts recorded in `node.sent[topic]` / `node.sent_tf`."""
    parameters = [Parameter(k, value=v) for k, v in {"map": "/maps/demo", "use_sim_time": True, **overrides}.items()]
    node = ros.module.LocalizerNode(context=ros.context, parameter_overrides=parameters, namespace=namespace)
    ros.nodes.append(node)
    set_now(node, now_ns)
    buffer = node._tf_buffer
    buffer.set_transform_static(transform_stamped(Transform("base_link", "camera_optical", BASE_FROM_CAMERA, 0),
                                                  TYPES), "test")
    for stamp in range(STAMP - 500_000_000, STAMP + 1_000_000_000, 50_000_000):  # odometry at 20 Hz
        buffer.set_transform(transform_stamped(Transform("odom", "base_link", ODOM_FROM_BASE, stamp), TYPES), "test")
    node.sent = {}
    for publisher in node.publishers:  # real rclpy: a generator of the node's publishers
        node.sent[publisher.topic_name] = sent = []
        publisher.publish = _recorder(publisher.publish, sent)
    node.sent_tf = []
    node._tf_broadcaster.sendTransform = _recorder(node._tf_broadcaster.sendTransform, node.sent_tf)
    return node


def _recorder(send, into):
    def record(msg):
        into.append(msg)
        return send(msg)
    return record


def set_now(node, now_ns):
    node.get_clock().set_ros_time_override(Time(nanoseconds=now_ns))


def timer(node, callback):
    (found,) = [t for t in node.timers if t.callback == callback]
    return found


def service(node, name):
    (found,) = [s for s in node.services if s.service_name == name]
    return found.callback(Trigger.Request(), Trigger.Response())


def logged(capfd):
    """(severity, message) of the node's log lines so far (rclpy logs to stderr: "[WARN] [stamp] [name]: text")."""
    return [(line.split("]", 1)[0].lstrip("["), line.split("]: ", 1)[1])
            for line in capfd.readouterr().err.splitlines() if "localizer]: " in line]


def subscription(node, topic):
    (found,) = [s for s in node.subscriptions if s.topic_name == topic]
    return found


def feed(node, stamp_ns=STAMP):
    """An image and its CameraInfo, as the executor would deliver them."""
    info = camera_info_msg(CAMERA, stamp_ns, "camera_optical", typestore=TYPES)
    image = Image(header=info.header, height=48, width=64, encoding="rgb8", is_bigendian=0, step=64 * 3,
                  data=bytes(64 * 48 * 3))
    subscription(node, node.resolve_topic_name("camera_info")).callback(info)
    subscription(node, node.resolve_topic_name("image")).callback(image)
    assert node._worker.wait_idle(timeout=5.0)


def stamp_ns(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def test_parameters_are_the_config_dataclasses(ros):
    node = make_node(ros)
    library = flatten(to_dict(LocalizerConfig()))
    own = flatten(to_dict(LocalizerNodeConfig()))  # prior.* nested, like the library's sections
    names = set(node.list_parameters([], 0).names) - {"use_sim_time", "start_type_description_service"}
    assert names == set(library) | set(own)
    for name, default in {**library, **own}.items():
        descriptor = node.describe_parameter(name)
        assert descriptor.description, name
        if default is None:  # None default: declared dynamically typed, unset until given
            assert descriptor.dynamic_typing and node.get_parameter(name).value is None
            continue
        expected = "/maps/demo" if name == "map" else default
        assert node.get_parameter(name).value == expected, name
    assert node.describe_parameter("base_frame").read_only and not node.describe_parameter("map").read_only
    assert not node.describe_parameter("matcher.ratio_alpha").read_only  # applied by ~/reload_map
    assert ros.loaded[0][0] == "/maps/demo" and ros.loaded[0][1] == LocalizerConfig()


def test_subscriptions_publishers_services(ros):
    node = make_node(ros, publish_initialpose="on_demand", debug_image=True)
    inputs = {s.topic_name: s for s in node.subscriptions if s.topic_name in ("/image", "/camera_info")}
    assert inputs["/image"].msg_type is Image and inputs["/camera_info"].msg_type is CameraInfo
    for sub in inputs.values():
        assert sub.qos_profile.reliability == qos_profile_sensor_data.reliability
        assert sub.qos_profile.depth == qos_profile_sensor_data.depth
    assert {"/localizer/pose", "/initialpose", "/localizer/debug_image", "/diagnostics", "/localizer/fix_quality",
            "/localizer/map_points", "/localizer/reference_poses"} <= set(node.sent)
    for latched in ("/localizer/pose", "/localizer/map_points", "/localizer/reference_poses"):  # like amcl_pose
        (publisher,) = [p for p in node.publishers if p.topic_name == latched]
        qos = publisher.qos_profile
        assert (qos.depth, qos.durability, qos.reliability) == (
            1, DurabilityPolicy.TRANSIENT_LOCAL, ReliabilityPolicy.RELIABLE), latched
    assert {"/localizer/reload_map", "/localizer/publish_initialpose", "/reinitialize_global_localization",
            "/localizer/trigger_localization", "/localizer/pause", "/localizer/resume"} <= {
        s.service_name for s in node.services}
    diagnostics, republish = timer(node, node._publish_diagnostics), timer(node, node._republish_tf)
    assert diagnostics.timer_period_ns == 10**9  # 1 Hz; TF republishing at tf_republish_rate_hz (10)
    assert republish.timer_period_ns == 10**8
    assert isinstance(republish.callback_group, MutuallyExclusiveCallbackGroup)
    assert republish.clock is node.get_clock()  # the node's clock: /clock under use_sim_time
    compressed = make_node(ros, namespace="cam2", image_transport="compressed")  # one topic, one type
    assert subscription(compressed, "/cam2/image").msg_type is CompressedImage
    assert "/cam2/initialpose" not in compressed.sent
    with pytest.raises(ValueError, match="image_transport"):
        make_node(ros, image_transport="theora")


def test_a_fix_publishes_pose_and_map_to_odom(ros):
    node = make_node(ros, now_ns=STAMP + 250_000_000, publish_initialpose="first_fix", debug_image=True,
                     tf_republish_rate_hz=0.0)
    feed(node)
    feed(node, STAMP + 100_000_000)
    assert node._stats.failures == 0, node._stats.failure_reasons
    (pose, second) = node.sent["/localizer/pose"]
    assert (pose.header.stamp.sec, pose.header.stamp.nanosec, pose.header.frame_id) == (1_000_000_000, 500_000_000,
                                                                                        "map")
    p = pose.pose.pose.position
    assert np.allclose([p.x, p.y, p.z], (MAP_FROM_ODOM * ODOM_FROM_BASE).t)
    expected = published_pose(CAM_FROM_WORLD, COVARIANCE, BASE_FROM_CAMERA.inverse()).covariance
    assert np.allclose(covariance_of(pose), expected)
    (tf, _) = node.sent_tf
    assert (tf.header.frame_id, tf.child_frame_id) == ("map", "odom")
    assert stamp_ns(tf) == STAMP + 500_000_000  # without republishing: image stamp + tf_future_dating_s
    assert not [t for t in node.timers if t.callback == node._republish_tf]  # rate 0: no republishing timer
    t = tf.transform.translation
    assert np.allclose([t.x, t.y, t.z], MAP_FROM_ODOM.t)
    assert node.sent["/initialpose"] == [pose]  # first fix only
    (debug, _) = node.sent["/localizer/debug_image"]
    assert (debug.width, debug.height, debug.encoding, debug.header.frame_id) == (64, 48, "rgb8", "camera_optical")
    assert debug.header.stamp == pose.header.stamp  # the image's header
    assert node._stats.successes == 2
    assert node._stats.latency_percentiles()[1] == pytest.approx(0.25, abs=0.2)


def test_map_to_odom_is_republished_between_fixes_stamped_now_plus_future_dating(ros):
    node = make_node(ros, tf_future_dating_s=0.25)
    republish = timer(node, node._republish_tf).callback
    republish()
    assert node.sent_tf == []  # nothing before the first fix
    now = STAMP + 2_600_000_000  # a CPU query later
    set_now(node, now)
    feed(node)
    (fix_tf,) = node.sent_tf
    assert stamp_ns(fix_tf) == now + 250_000_000  # sent now + future dating, not image + 0.25 s
    republish()
    assert len(node.sent_tf) == 1  # the clock has not moved: no repeated stamp
    for k in (1, 2, 3):
        set_now(node, now + k * 100_000_000)
        republish()
    resent = node.sent_tf[1:]
    assert [stamp_ns(m) for m in resent] == [now + k * 100_000_000 + 250_000_000 for k in (1, 2, 3)]
    for m in resent:
        assert (m.header.frame_id, m.child_frame_id) == ("map", "odom")
        assert m.transform == fix_tf.transform  # the same map->odom, only restamped
    assert stamp_ns(node.sent["/localizer/pose"][0]) == STAMP  # the pose keeps the image stamp

    node.set_parameters([Parameter("map", value="/maps/missing")])
    assert not service(node, "/localizer/reload_map").success
    set_now(node, now + 4 * 100_000_000)
    republish()
    assert len(node.sent_tf) == 5  # a failed reload keeps the previous map, and its map->odom
    node.set_parameters([Parameter("map", value="/maps/other")])
    assert service(node, "/localizer/reload_map").success
    set_now(node, now + 5 * 100_000_000)
    republish()
    assert len(node.sent_tf) == 5  # a new map: its old map->odom is not resent


def test_no_republishing_without_publish_tf_and_a_warning_for_gaps(ros, capfd):
    quiet = make_node(ros, publish_tf=False)
    assert [t.timer_period_ns for t in quiet.timers] == [10**9]
    map_to_base = make_node(ros, now_ns=STAMP + 10**9, odom_frame="", tf_republish_rate_hz=1.0)
    feed(map_to_base)
    set_now(map_to_base, STAMP + 2 * 10**9)
    timer(map_to_base, map_to_base._republish_tf).callback()
    assert [(m.header.frame_id, m.child_frame_id) for m in map_to_base.sent_tf] == [("map", "base_link")] * 2
    assert any(level == "WARN" and "tf_republish_rate_hz" in text for level, text in logged(capfd))
    with pytest.raises(ValueError, match="tf_republish_rate_hz"):
        make_node(ros, tf_republish_rate_hz=-1.0)


def test_a_failure_publishes_nothing_and_is_counted(ros, capfd):
    node = make_node(ros)
    node._localizer.succeed = False
    feed(node)
    timer(node, node._publish_diagnostics).callback()
    assert node.sent["/localizer/pose"] == [] and node.sent_tf == []
    assert node._stats.failure_reasons == {"no reference gave a pose with >= N inliers": 1}
    assert any(level == "WARN" and "no pose" in text for level, text in logged(capfd))
    (diagnostics,) = node.sent["/diagnostics"]
    status = diagnostics.status[0]
    assert status.level == b"\x01" and status.name == "/localizer: localization"
    assert {kv.key: kv.value for kv in status.values}["failures"] == "1"


def test_a_missing_extrinsic_is_a_counted_failure(ros):
    node = make_node(ros, base_frame="rear_axle")  # no TF from the camera to this frame
    feed(node)
    assert node.sent["/localizer/pose"] == []
    assert node._stats.failures == 1 and node._worker.counters.errors == 0  # reported, not an exception
    assert "no camera extrinsic" in next(iter(node._stats.failure_reasons))


def test_reload_map_and_publish_initialpose_services(ros, capfd):
    node = make_node(ros, publish_initialpose="on_demand")
    assert any(level == "INFO" and MAP_LOADED.search(text) for level, text in logged(capfd)), \
        "the launch test starts the bag on this log line (s2dhm_ros.ros.launch_events.MAP_LOADED)"
    node.set_parameters([Parameter("map", value="/maps/other"), Parameter("matcher.ratio_alpha", value=0.8)])
    response = service(node, "/localizer/reload_map")
    assert response.success and "/maps/other" in response.message and "7 reference images" in response.message
    assert ros.loaded[-1][1].matcher.ratio_alpha == 0.8
    node.set_parameters([Parameter("map", value="/maps/missing")])
    response = service(node, "/localizer/reload_map")
    assert not response.success and "no map at /maps/missing" in response.message
    assert node._localizer.path == "/maps/other"  # the previous map stays in service
    feed(node)
    assert node.sent["/initialpose"] == []
    response = service(node, "/localizer/publish_initialpose")
    assert response.success and response.message.endswith(" on /initialpose")
    feed(node, STAMP + 1)
    assert len(node.sent["/initialpose"]) == 1
    with pytest.raises(Exception, match="read-only|read only"):  # the node's own settings are read at start
        node.set_parameters([Parameter("base_frame", value="other")])[0]
        raise RuntimeError("read only")


def test_initialpose_and_outputs_follow_the_namespace(ros):
    """Nav2's AMCL in namespace robot1 listens on /robot1/initialpose: the node publishes `initialpose` (relative)."""
    node = make_node(ros, namespace="robot1", publish_initialpose="on_demand")
    assert {"/robot1/localizer/pose", "/robot1/initialpose", "/diagnostics"} <= set(node.sent)
    assert {"/robot1/image", "/robot1/camera_info"} <= {s.topic_name for s in node.subscriptions}
    response = service(node, "/robot1/localizer/publish_initialpose")
    assert response.success and response.message.endswith(" on /robot1/initialpose")
    feed(node)
    (sent,) = node.sent["/robot1/initialpose"]
    assert sent == node.sent["/robot1/localizer/pose"][0]
    assert ros.module.INITIALPOSE_TOPIC == "initialpose"


def test_whole_numbers_for_float_settings_start_the_node(ros, capfd):
    """`max_rate_hz: 5` in a parameter file given straight to the node (--params-file): real rclpy refuses an
    INTEGER for a parameter declared with a float default; the node declares it again dynamically typed, reads 5.0."""
    node = make_node(ros, max_rate_hz=5, tf_republish_rate_hz=20, **{"matcher.ratio_alpha": 1})
    assert node.settings.max_rate_hz == 5.0 and isinstance(node.settings.max_rate_hz, float)
    assert node._tf_republisher.rate_hz == 20.0 and timer(node, node._republish_tf).timer_period_ns == 5 * 10**7
    assert node.describe_parameter("max_rate_hz").dynamic_typing
    assert node.describe_parameter("max_rate_hz").read_only
    assert not node.describe_parameter("tf_timeout_s").dynamic_typing  # given as floats: statically typed as usual
    assert ros.loaded[-1][1].matcher.ratio_alpha == 1.0
    warnings = [text for level, text in logged(capfd) if level == "WARN"]
    assert any("max_rate_hz: 5 given for a float setting, read as 5.0" in text for text in warnings)
    with pytest.raises(InvalidParameterTypeException):
        make_node(ros, base_frame=3)  # not a float setting: still refused
    with pytest.raises(ValueError, match="max_rate_hz must be a number"):
        make_node(ros, max_rate_hz="fast")


def test_parameter_files_with_whole_numbers_pass_through_the_launch_files_typed(ros, tmp_path, capfd):
    """What localize.launch.py does: read the files with the node's specs, hand the dict to the node."""
    from s2dhm_ros.ros.launch_parameters import parameters_from_files
    from s2dhm_ros.ros.node_specs import localizer_parameter_specs
    node_config = tmp_path / "localizer_node.yaml"
    node_config.write_text("localizer:\n  ros__parameters:\n    max_rate_hz: 5\n    tf_future_dating_s: 1\n"
                           "    pose:\n      ransac_max_error_px: 12\n      min_inliers: 20\n")
    parameters = parameters_from_files([node_config], "localizer", localizer_parameter_specs())
    node = make_node(ros, **parameters)
    assert node.settings.max_rate_hz == 5.0 and node.settings.tf_future_dating_s == 1.0
    assert not node.describe_parameter("max_rate_hz").dynamic_typing  # typed at launch: no fallback needed
    assert not [text for level, text in logged(capfd) if level == "WARN"]
    config = ros.loaded[-1][1]
    assert config.pose.ransac_max_error_px == 12.0 and isinstance(config.pose.ransac_max_error_px, float)
    assert config.pose.min_inliers == 20 and isinstance(config.pose.min_inliers, int)


def test_without_map_the_node_runs_and_reports_it(ros, capfd):
    node = make_node(ros, map="")
    feed(node)
    timer(node, node._publish_diagnostics).callback()
    assert any(level == "ERROR" and "no map" in text for level, text in logged(capfd))
    assert node.sent["/diagnostics"][0].status[0].level == b"\x02"


def test_images_without_camera_info_are_reported(ros, capfd):
    node = make_node(ros)
    for i in range(12):
        subscription(node, "/image").callback(Image(header=header_msg("camera_optical", STAMP + i, typestore=TYPES),
                                                     height=1, width=1, encoding="rgb8", step=3, data=bytes(3)))
    timer(node, node._publish_diagnostics).callback()
    status = node.sent["/diagnostics"][0].status[0]
    assert status.level == b"\x01" and "no CameraInfo" in status.message
    assert {kv.key: kv.value for kv in status.values}["images_without_camera_info"] == "2"
    assert any("camera_info remapping" in text for _, text in logged(capfd))
