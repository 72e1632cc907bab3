"""Wiring of the `localizer` node against a stand-in of the rclpy API (test/fake_rclpy): declared parameters,
subscriptions, what is published for a fix and for a failure, TF republishing, services, diagnostics, main()."""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import fake_rclpy
from s2dhm_ros.config import LocalizerConfig, flatten, to_dict
from s2dhm_ros.geometry import Camera, Pose
from s2dhm_ros.localizer import LocalizationResult
from s2dhm_ros.ros.launch_events import MAP_LOADED
from s2dhm_ros.runtime.node_config import LocalizerNodeConfig
from s2dhm_ros.runtime.pose_output import published_pose

CAMERA = Camera("PINHOLE", 64, 48, (50.0, 50.0, 32.0, 24.0))
MAP_FROM_ODOM = Pose(Rotation.from_rotvec([0.0, 0.0, 0.3]).as_matrix(), [10.0, -4.0, 0.0])
ODOM_FROM_BASE = Pose(Rotation.from_rotvec([0.0, 0.0, -1.1]).as_matrix(), [2.0, 1.0, 0.0])
BASE_FROM_CAMERA = Pose(Rotation.from_euler("xyz", [-90, 0, -90], degrees=True).as_matrix(), [1.5, 0.0, 1.2])
CAM_FROM_WORLD = (MAP_FROM_ODOM * ODOM_FROM_BASE * BASE_FROM_CAMERA).inverse()
COVARIANCE = np.diag([1e-5, 2e-5, 3e-5, 1e-3, 2e-3, 3e-3])
STAMP = 1_000_000_000_500_000_000


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
    state = fake_rclpy.install(monkeypatch)
    from s2dhm_ros.ros import localizer_node
    loaded = []

    def from_map(path, config):
        if "missing" in str(path):
            raise FileNotFoundError(f"no map at {path}")
        loaded.append((path, config))
        return FakeLocalizer(path)

    monkeypatch.setattr(localizer_node.Localizer, "from_map", staticmethod(from_map))
    return SimpleNamespace(module=localizer_node, loaded=loaded, state=state)


def make_node(ros, namespace=None, **overrides):
    parameters = [fake_rclpy.Parameter(k, value=v) for k, v in {"map": "/maps/demo", **overrides}.items()]
    node = ros.module.LocalizerNode(parameter_overrides=parameters, namespace=namespace)
    node._tf_buffer.transforms = {
        ("camera_optical", "base_link"): transform(BASE_FROM_CAMERA.inverse()),
        ("odom", "base_link"): transform(ODOM_FROM_BASE)}
    return node


def transform(pose):
    from s2dhm_ros.ros.messages import RclpyTypes, transform_stamped
    from s2dhm_ros.runtime.fix import Transform
    return transform_stamped(Transform("a", "b", pose, 0), RclpyTypes())


def feed(node, stamp_ns=STAMP):
    """An image and its CameraInfo, as the executor would deliver them."""
    from s2dhm_ros.io.bag_writer import camera_info_msg
    from s2dhm_ros.ros.messages import RclpyTypes
    from sensor_msgs.msg import Image
    info = camera_info_msg(CAMERA, stamp_ns, "camera_optical", typestore=RclpyTypes())
    image = Image(header=info.header, height=48, width=64, encoding="rgb8", is_bigendian=0, step=64 * 3,
                  data=bytes(64 * 48 * 3))
    node.subscriptions[node.resolve("camera_info")].callback(info)
    node.subscriptions[node.resolve("image")].callback(image)
    assert node._worker.wait_idle(timeout=5.0)


def test_parameters_are_the_config_dataclasses(ros):
    node = make_node(ros)
    try:
        library = flatten(to_dict(LocalizerConfig()))
        own = flatten(to_dict(LocalizerNodeConfig()))
        assert set(node.parameters) == set(library) | set(own) | {"use_sim_time"}
        for name, default in {**library, **own}.items():
            expected = "/maps/demo" if name == "map" else default
            assert node.parameters[name].value == expected, name
            assert node.descriptors[name].description
        assert node.descriptors["features.weights"].dynamic_typing  # None default: unset until given
        assert node.descriptors["base_frame"].read_only and not node.descriptors["map"].read_only
        assert not node.descriptors["matcher.ratio_alpha"].read_only  # applied by ~/reload_map
        assert ros.loaded[0][0] == "/maps/demo" and ros.loaded[0][1] == LocalizerConfig()
    finally:
        node.shutdown()


def test_subscriptions_publishers_services(ros):
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    node = make_node(ros, publish_initialpose="on_demand", debug_image=True)
    try:
        assert node.subscriptions["/image"].msg_type is Image
        assert node.subscriptions["/camera_info"].msg_type is CameraInfo
        for topic in ("/image", "/camera_info"):
            assert node.subscriptions[topic].qos_profile is fake_rclpy.qos_profile_sensor_data
        assert node.subscriptions["/initialpose"].callback == node._on_initialpose  # priors (prior.use_initialpose)
        assert set(node.publishers) == {"/localizer/pose", "/initialpose", "/localizer/debug_image", "/diagnostics",
                                        "/localizer/fix_quality", "/localizer/map_points", "/localizer/reference_poses"}
        for latched in ("/localizer/pose", "/localizer/map_points", "/localizer/reference_poses"):  # like amcl_pose
            qos = node.publishers[latched].qos_profile
            assert (qos.depth, qos.durability, qos.reliability) == (1, "transient_local", "reliable")
        assert set(node.services) == {"/localizer/reload_map", "/localizer/publish_initialpose",
                                      "/reinitialize_global_localization", "/localizer/trigger_localization",
                                      "/localizer/pause", "/localizer/resume"}
        diagnostics, republish = node.timers  # 1 Hz diagnostics, TF republishing at tf_republish_rate_hz (10)
        assert (diagnostics.timer_period_sec, diagnostics.callback) == (1.0, node._publish_diagnostics)
        assert republish.timer_period_sec == pytest.approx(0.1) and republish.callback == node._republish_tf
        assert isinstance(republish.callback_group, fake_rclpy.MutuallyExclusiveCallbackGroup)
        assert republish.clock is None  # the node's clock: /clock under use_sim_time
    finally:
        node.shutdown()
    compressed = make_node(ros, image_transport="compressed")
    compressed.shutdown()
    assert compressed.subscriptions["/image"].msg_type is CompressedImage
    assert "/initialpose" not in compressed.publishers
    with pytest.raises(ValueError, match="image_transport"):
        make_node(ros, image_transport="theora")


def test_a_fix_publishes_pose_and_map_to_odom(ros):
    node = make_node(ros, publish_initialpose="first_fix", debug_image=True, tf_republish_rate_hz=0.0)
    node.get_clock().now_ns = STAMP + 250_000_000
    try:
        feed(node)
        feed(node, STAMP + 100_000_000)
    finally:
        node.shutdown()
    (pose, second) = node.publishers["/localizer/pose"].published
    assert (pose.header.stamp.sec, pose.header.stamp.nanosec, pose.header.frame_id) == (1_000_000_000, 500_000_000,
                                                                                        "map")
    p = pose.pose.pose.position
    assert np.allclose([p.x, p.y, p.z], (MAP_FROM_ODOM * ODOM_FROM_BASE).t)
    expected = published_pose(CAM_FROM_WORLD, COVARIANCE, BASE_FROM_CAMERA.inverse()).covariance
    assert np.allclose(pose.pose.covariance.reshape(6, 6), expected)
    (tf, _) = node._tf_broadcaster.sent
    assert (tf.header.frame_id, tf.child_frame_id) == ("map", "odom")
    assert stamp_ns(tf) == STAMP + 500_000_000  # without republishing: image stamp + tf_future_dating_s
    assert node.timers[1:] == []  # tf_republish_rate_hz 0: no republishing timer
    t = tf.transform.translation
    assert np.allclose([t.x, t.y, t.z], MAP_FROM_ODOM.t)
    assert node.publishers["/initialpose"].published == [pose]  # first fix only
    assert len(node.publishers["/localizer/debug_image"].published) == 2
    assert node._stats.successes == 2
    assert node._stats.latency_percentiles()[1] == pytest.approx(0.25, abs=0.2)
    assert ("camera_optical", "base_link", STAMP) in node._tf_buffer.lookups


def stamp_ns(msg):
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def republish_timer(node):
    (timer,) = [t for t in node.timers if t.callback == node._republish_tf]
    return timer


def test_map_to_odom_is_republished_between_fixes_stamped_now_plus_future_dating(ros):
    node = make_node(ros, tf_future_dating_s=0.25)
    clock = node.get_clock()
    try:
        clock.now_ns = STAMP
        republish_timer(node).callback()
        assert node._tf_broadcaster.sent == []  # nothing before the first fix
        clock.now_ns = STAMP + 2_600_000_000  # a CPU query later
        feed(node)
        (fix_tf,) = node._tf_broadcaster.sent
        assert stamp_ns(fix_tf) == clock.now_ns + 250_000_000  # sent now + future dating, not image + 0.25 s
        republish_timer(node).callback()
        assert len(node._tf_broadcaster.sent) == 1  # the clock has not moved: no repeated stamp
        for _ in range(3):
            clock.now_ns += 100_000_000
            republish_timer(node).callback()
        resent = node._tf_broadcaster.sent[1:]
        assert [stamp_ns(m) for m in resent] == [STAMP + 2_600_000_000 + k * 100_000_000 + 250_000_000
                                                 for k in (1, 2, 3)]
        for m in resent:
            assert (m.header.frame_id, m.child_frame_id) == ("map", "odom")
            assert m.transform == fix_tf.transform  # the same map->odom, only restamped
        t = resent[-1].transform.translation
        assert np.allclose([t.x, t.y, t.z], MAP_FROM_ODOM.t)
        assert stamp_ns(node.publishers["/localizer/pose"].published[0]) == STAMP  # the pose keeps the image stamp

        node.parameters["map"].value = "/maps/missing"
        assert not node.services["/localizer/reload_map"].call().success
        clock.now_ns += 100_000_000
        republish_timer(node).callback()
        assert len(node._tf_broadcaster.sent) == 5  # a failed reload keeps the previous map, and its map->odom
        node.parameters["map"].value = "/maps/other"
        assert node.services["/localizer/reload_map"].call().success
        clock.now_ns += 100_000_000
        republish_timer(node).callback()
        assert len(node._tf_broadcaster.sent) == 5  # a new map: its old map->odom is not resent
    finally:
        node.shutdown()


def test_no_republishing_without_publish_tf_and_a_warning_for_gaps(ros):
    quiet = make_node(ros, publish_tf=False)
    quiet.shutdown()
    assert [t.timer_period_sec for t in quiet.timers] == [1.0]
    map_to_base = make_node(ros, odom_frame="", tf_republish_rate_hz=1.0)
    map_to_base.get_clock().now_ns = STAMP + 10**9
    try:
        feed(map_to_base)
        map_to_base.get_clock().now_ns += 10**9
        republish_timer(map_to_base).callback()
    finally:
        map_to_base.shutdown()
    sent = map_to_base._tf_broadcaster.sent
    assert [(m.header.frame_id, m.child_frame_id) for m in sent] == [("map", "base_link")] * 2
    assert any(level == "WARN" and "tf_republish_rate_hz" in text for level, text in map_to_base.get_logger().records)
    with pytest.raises(ValueError, match="tf_republish_rate_hz"):
        make_node(ros, tf_republish_rate_hz=-1.0)


def test_a_failure_publishes_nothing_and_is_counted(ros, monkeypatch):
    node = make_node(ros)
    node._localizer.succeed = False
    try:
        feed(node)
        node.timers[0].callback()
    finally:
        node.shutdown()
    assert node.publishers["/localizer/pose"].published == [] and node._tf_broadcaster.sent == []
    assert node._stats.failure_reasons == {"no reference gave a pose with >= N inliers": 1}
    assert any(level == "WARN" and "no pose" in text for level, text in node.get_logger().records)
    (diagnostics,) = node.publishers["/diagnostics"].published
    status = diagnostics.status[0]
    assert status.level == b"\x01" and status.name == "/localizer: localization"
    assert {kv.key: kv.value for kv in status.values}["failures"] == "1"


def test_a_missing_extrinsic_is_a_counted_failure(ros):
    node = make_node(ros)
    node._tf_buffer.transforms = {}
    try:
        feed(node)
    finally:
        node.shutdown()
    assert node.publishers["/localizer/pose"].published == []
    assert node._stats.failures == 1 and "no camera extrinsic" in next(iter(node._stats.failure_reasons))


def test_reload_map_and_publish_initialpose_services(ros):
    node = make_node(ros, publish_initialpose="on_demand")
    try:
        assert any(level == "INFO" and MAP_LOADED.search(text) for level, text in node.get_logger().records), \
            "the launch test starts the bag on this log line (s2dhm_ros.ros.launch_events.MAP_LOADED)"
        node.parameters["map"].value = "/maps/other"
        node.parameters["matcher.ratio_alpha"].value = 0.8
        response = node.services["/localizer/reload_map"].call()
        assert response.success and "/maps/other" in response.message and "7 reference images" in response.message
        assert ros.loaded[-1][1].matcher.ratio_alpha == 0.8
        node.parameters["map"].value = "/maps/missing"
        response = node.services["/localizer/reload_map"].call()
        assert not response.success and "no map at /maps/missing" in response.message
        assert node._localizer.path == "/maps/other"  # the previous map stays in service
        feed(node)
        assert node.publishers["/initialpose"].published == []
        response = node.services["/localizer/publish_initialpose"].call()
        assert response.success and response.message.endswith(" on /initialpose")
        feed(node, STAMP + 1)
        assert len(node.publishers["/initialpose"].published) == 1
    finally:
        node.shutdown()


def test_initialpose_and_outputs_follow_the_namespace(ros):
    """Nav2's AMCL in namespace robot1 listens on /robot1/initialpose: the node publishes `initialpose` (relative)."""
    node = make_node(ros, namespace="robot1", publish_initialpose="on_demand")
    try:
        assert set(node.publishers) >= {"/robot1/localizer/pose", "/robot1/initialpose", "/diagnostics"}
        assert set(node.subscriptions) == {"/robot1/image", "/robot1/camera_info", "/robot1/initialpose"}
        assert "/robot1/reinitialize_global_localization" in node.services
        response = node.services["/robot1/localizer/publish_initialpose"].call()
        assert response.success and response.message.endswith(" on /robot1/initialpose")
        feed(node)
        (sent,) = node.publishers["/robot1/initialpose"].published
        assert sent == node.publishers["/robot1/localizer/pose"].published[0]
    finally:
        node.shutdown()
    assert ros.module.INITIALPOSE_TOPIC == "initialpose"


def test_whole_numbers_for_float_settings_start_the_node(ros):
    """`max_rate_hz: 5` in a parameter file given straight to the node (--params-file): rclpy refuses an INTEGER
    for a parameter declared with a float default; the node declares it again dynamically typed, reads 5.0."""
    node = make_node(ros, max_rate_hz=5, tf_republish_rate_hz=20, **{"matcher.ratio_alpha": 1})
    try:
        assert node.settings.max_rate_hz == 5.0 and isinstance(node.settings.max_rate_hz, float)
        assert node._tf_republisher.rate_hz == 20.0 and republish_timer(node).timer_period_sec == pytest.approx(0.05)
        assert node.descriptors["max_rate_hz"].dynamic_typing and node.descriptors["max_rate_hz"].read_only
        assert not node.descriptors["tf_timeout_s"].dynamic_typing  # given as floats: statically typed as usual
        assert ros.loaded[-1][1].matcher.ratio_alpha == 1.0
        warnings = [text for level, text in node.get_logger().records if level == "WARN"]
        assert any("max_rate_hz: 5 given for a float setting, read as 5.0" in text for text in warnings)
    finally:
        node.shutdown()
    with pytest.raises(fake_rclpy.InvalidParameterTypeException):
        make_node(ros, base_frame=3)  # not a float setting: still refused
    with pytest.raises(ValueError, match="max_rate_hz must be a number"):
        make_node(ros, max_rate_hz="fast")


def test_parameter_files_with_whole_numbers_pass_through_the_launch_files_typed(ros, tmp_path):
    """What localize.launch.py does: read the files with the node's specs, hand the dict to the node."""
    from s2dhm_ros.ros.launch_parameters import parameters_from_files
    from s2dhm_ros.ros.node_specs import localizer_parameter_specs
    node_config = tmp_path / "localizer_node.yaml"
    node_config.write_text("localizer:\n  ros__parameters:\n    max_rate_hz: 5\n    tf_future_dating_s: 1\n"
                           "    pose:\n      ransac_max_error_px: 12\n      min_inliers: 20\n")
    parameters = parameters_from_files([node_config], "localizer", localizer_parameter_specs())
    node = ros.module.LocalizerNode(parameter_overrides=[fake_rclpy.Parameter(k, value=v)
                                                         for k, v in {"map": "/maps/demo", **parameters}.items()])
    try:
        assert node.settings.max_rate_hz == 5.0 and node.settings.tf_future_dating_s == 1.0
        assert not node.descriptors["max_rate_hz"].dynamic_typing  # typed at launch: no fallback needed
        assert not [text for level, text in node.get_logger().records if level == "WARN"]
        config = ros.loaded[-1][1]
        assert config.pose.ransac_max_error_px == 12.0 and isinstance(config.pose.ransac_max_error_px, float)
        assert config.pose.min_inliers == 20 and isinstance(config.pose.min_inliers, int)
    finally:
        node.shutdown()


def test_without_map_the_node_runs_and_reports_it(ros):
    node = make_node(ros, map="")
    try:
        feed(node)
        node.timers[0].callback()
    finally:
        node.shutdown()
    assert any(level == "ERROR" and "no map" in text for level, text in node.get_logger().records)
    assert node.publishers["/diagnostics"].published[0].status[0].level == b"\x02"


def test_images_without_camera_info_are_reported(ros):
    from sensor_msgs.msg import Image
    node = make_node(ros)
    try:
        for i in range(12):
            node.subscriptions["/image"].callback(Image(header=_header(STAMP + i), height=1, width=1, encoding="rgb8",
                                                        step=3, data=bytes(3)))
        node.timers[0].callback()
    finally:
        node.shutdown()
    status = node.publishers["/diagnostics"].published[0].status[0]
    assert status.level == b"\x01" and "no CameraInfo" in status.message
    assert {kv.key: kv.value for kv in status.values}["images_without_camera_info"] == "2"
    assert any("camera_info remapping" in text for _, text in node.get_logger().records)


def _header(stamp_ns):
    from s2dhm_ros.io.bag_writer import header_msg
    from s2dhm_ros.ros.messages import RclpyTypes
    return header_msg("camera_optical", stamp_ns, typestore=RclpyTypes())


def test_main_spins_and_shuts_down(ros, monkeypatch):
    assert ros.module.main([]) == 0
    assert not ros.state.initialized
