"""The `localizer` node: camera stream in, PoseWithCovarianceStamped and REP-105 TF out.

Thin by design: callbacks pair each image with its CameraInfo and hand them to a `LatestFrameWorker`, which runs
the localizer off the executor threads on the newest frame only; everything that decides what to publish lives
in ROS-free code (s2dhm_ros.runtime) tested without ROS. The last map->odom is resent from a timer between fixes
(`runtime.tf_republisher`), and fixes go to `initialpose` relative to the node's namespace, as Nav2's AMCL expects.
The navigation behaviour (prior from the last fix + odometry or `initialpose`, retrieval near a confident prior,
Mahalanobis gate, trigger mode, pause/resume) is `runtime.frame_processor`; services here only forward to it.

Images are decoded with the project's own `io.images.image_from_msg`, not cv_bridge's `imgmsg_to_cv2` /
`compressed_imgmsg_to_cv2` as ROS nodes usually do. This is deliberate: the same function reads the bags for map
building and the offline tools (`s2dhm localize-bag`, the evaluations), which run without ROS, so a frame gives the
same RGB array online and offline: same Bayer demosaicing (the ROS pattern names mapped explicitly to OpenCV's),
same 16-bit to 8-bit scaling, same compressed decoding, with errors that name the encoding. cv_bridge would be a
second decoder, differing on exactly those cases, that cannot be tested without ROS. cv_bridge is used only to
build the outgoing ~/debug_image (`cv2_to_imgmsg`).
"""
from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import rclpy
from cv_bridge import CvBridge
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray, PoseWithCovarianceStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy  # RCLError, as rclpy's own code
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_srvs.srv import Empty, Trigger
from tf2_ros import Buffer, TransformBroadcaster, TransformException, TransformListener

from ..config import LocalizerConfig
from ..geometry import Pose
from ..io.bag_writer import stamp_ns_of
from ..io.camera_info import camera_from_camera_info
from ..io.images import image_from_msg
from ..localizer import Localizer
from ..runtime.debug_image import draw_inliers
from ..runtime.frame_processor import PUBLISHED, SKIPPED, STALE, FrameProcessor
from ..runtime.initial_pose import InitialPosePolicy
from ..runtime.latest_frame_worker import LatestFrameWorker
from ..runtime.map_display import map_points, reference_poses
from ..runtime.node_config import LocalizerNodeConfig
from ..runtime.stamp_matcher import StampMatcher
from ..runtime.stats import RuntimeStats
from ..runtime.tf_republisher import TfRepublisher
from . import node_parameters
from .messages import RclpyTypes, covariance_of, diagnostic_array, point_cloud, pose_array, pose_from_transform, \
    pose_of, pose_with_covariance_stamped, transform_stamped
from .node_specs import localizer_parameter_specs
from .parameters import config_from_parameters

NODE_NAME = "localizer"
IMAGE_TRANSPORTS = {"raw": Image, "compressed": CompressedImage}
# Relative, so that it follows the node's namespace (/initialpose without one), where Nav2's AMCL subscribes.
INITIALPOSE_TOPIC = "initialpose"
# Relative like AMCL's service of this name, which Nav2's ReinitializeGlobalLocalization behaviour-tree node calls.
REINITIALIZE_SERVICE = "reinitialize_global_localization"
# ~/pose and the map display keep their last message for late subscribers, like AMCL's amcl_pose.
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)


class LocalizerNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._specs = localizer_parameter_specs()
        node_parameters.declare(self, self._specs)
        self.settings = config_from_parameters(LocalizerNodeConfig, node_parameters.values(self, self._specs))
        if self.settings.image_transport not in IMAGE_TRANSPORTS:
            raise ValueError(f"image_transport must be one of {sorted(IMAGE_TRANSPORTS)}, "
                             f"got {self.settings.image_transport!r}")
        self._types = RclpyTypes()
        self._bridge = CvBridge()
        self._stats = RuntimeStats()
        self._initial_pose = InitialPosePolicy(self.settings.publish_initialpose)
        self._localizer: Localizer | None = None
        self._localizer_lock = threading.Lock()
        self._matcher: StampMatcher = StampMatcher(int(self.settings.sync_tolerance_s * 1e9))
        self._matcher_lock = threading.Lock()
        self._tf_republisher = TfRepublisher(self.settings.tf_republish_rate_hz if self.settings.publish_tf else 0.0,
                                             self.settings.tf_future_dating_s)
        self._frames = FrameProcessor(self.settings, self._lookup)

        self._tf_buffer = Buffer(node=self)
        self._tf_listener = TransformListener(self._tf_buffer, self)
        self._tf_broadcaster = TransformBroadcaster(self)
        self._pose_pub = self.create_publisher(PoseWithCovarianceStamped, "~/pose", LATCHED)
        self._quality_pub = self.create_publisher(DiagnosticArray, "~/fix_quality", 10)
        self._map_pubs = ((self.create_publisher(PointCloud2, "~/map_points", LATCHED),
                           self.create_publisher(PoseArray, "~/reference_poses", LATCHED))
                          if self.settings.publish_map else None)
        self._initial_pose_pub = (self.create_publisher(PoseWithCovarianceStamped, INITIALPOSE_TOPIC, 10)
                                  if self.settings.publish_initialpose != "off" else None)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", 1) if self.settings.debug_image else None
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self._worker: LatestFrameWorker = LatestFrameWorker(self._process, self.settings.max_rate_hz,
                                                            on_error=self._on_frame_error).start()
        inputs = MutuallyExclusiveCallbackGroup()
        self.create_subscription(IMAGE_TRANSPORTS[self.settings.image_transport], "image", self._on_image,
                                 qos_profile_sensor_data, callback_group=inputs)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos_profile_sensor_data,
                                 callback_group=inputs)
        services = MutuallyExclusiveCallbackGroup()  # a map reload never blocks the image callbacks
        self.create_service(Trigger, "~/reload_map", self._on_reload_map, callback_group=services)
        if self.settings.publish_initialpose == "on_demand":
            self.create_service(Trigger, "~/publish_initialpose", self._on_publish_initialpose,
                                callback_group=services)
        self.create_service(Empty, REINITIALIZE_SERVICE, self._on_reinitialize, callback_group=services)
        self.create_service(Trigger, "~/trigger_localization", self._on_trigger, callback_group=services)
        self.create_service(Trigger, "~/pause", self._on_pause, callback_group=services)
        self.create_service(Trigger, "~/resume", self._on_resume, callback_group=services)
        if self.settings.prior.enabled and self.settings.prior.use_initialpose:
            self.create_subscription(PoseWithCovarianceStamped, INITIALPOSE_TOPIC, self._on_initialpose, 10,
                                     callback_group=services)
        self.create_timer(1.0, self._publish_diagnostics)
        if self._tf_republisher.enabled:  # its own group: never waits behind the diagnostics
            self.create_timer(self._tf_republisher.period_s, self._republish_tf,
                              callback_group=MutuallyExclusiveCallbackGroup())
            if (warning := self._tf_republisher.warning()) is not None:
                self.get_logger().warning(warning)

        self._report_reload(*self.reload_map())

    def reload_map(self) -> tuple[bool, str]:
        """(Re)load the map named by the `map` parameter with the current library parameters."""
        values = node_parameters.values(self, self._specs)
        path = values["map"]
        if not path:
            return False, "no map: set the `map` parameter to a map directory and call ~/reload_map"
        try:
            localizer = Localizer.from_map(path, config_from_parameters(LocalizerConfig, values))
        except Exception as e:  # any failure to load leaves the previous map in service
            return False, f"could not load map {path}: {e}"
        with self._localizer_lock:
            self._localizer = localizer
            self._tf_republisher.clear()  # the last map->odom was in the previous map: resent no more
            self._frames.on_map_loaded()  # so were the prior and the frames being localized
        self._publish_map(localizer)
        return True, (f"map {path} loaded: {localizer.map.num_references} reference images, frame "
                      f"{self.settings.map_frame or localizer.map.frame_id}")

    def shutdown(self) -> None:
        """Stop the worker, waiting for the frame being localized (see runtime.latest_frame_worker: leaving it
        inside pycolmap while the interpreter exits aborts the process)."""
        if self._worker.counters.busy:
            self.get_logger().info("stopping: waiting for the frame being localized to finish")
        self._worker.stop()

    def _on_image(self, msg: Any) -> None:
        with self._matcher_lock:
            unmatched = self._matcher.unmatched_images
            pair = self._matcher.add_image(stamp_ns_of(msg.header.stamp), msg)
            unmatched = self._matcher.unmatched_images > unmatched
        if pair is not None:
            self._worker.submit(pair)
        elif unmatched:
            self.get_logger().warning("images without a CameraInfo of the same stamp (within sync_tolerance_s): "
                                      "check the camera_info remapping", throttle_duration_sec=10.0)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        with self._matcher_lock:
            pair = self._matcher.add_info(stamp_ns_of(msg.header.stamp), msg)
        if pair is not None:
            self._worker.submit(pair)

    def _process(self, pair: tuple[int, Any, CameraInfo]) -> None:
        """On the worker thread: localize one frame and publish, or count why not."""
        stamp_ns, image_msg, info_msg = pair
        with self._localizer_lock:
            localizer = self._localizer
            generation = self._tf_republisher.generation
            map_generation = self._frames.map_generation
        if localizer is None:
            self._stats.record_failure("no map loaded")
            return
        outcome = self._frames.process(localizer, lambda: image_from_msg(image_msg),
                                       camera_from_camera_info(info_msg, self.settings.use_rectified), stamp_ns,
                                       image_msg.header.frame_id, self.settings.map_frame or localizer.map.frame_id,
                                       map_generation)
        # Skipped or stale (counted in /diagnostics), or shutting down (the context may be gone): send nothing.
        if outcome.status in (SKIPPED, STALE) or self._worker.stopping:
            return
        result = outcome.result
        if self._debug_pub is not None:
            text = f"{result.num_inliers} inliers" if outcome.status == PUBLISHED else outcome.status
            debug = self._bridge.cv2_to_imgmsg(draw_inliers(outcome.image, result.inlier_points2D, text),
                                               encoding="rgb8")
            debug.header = image_msg.header
            self._debug_pub.publish(debug)
        self._quality_pub.publish(diagnostic_array(outcome.quality(), f"{self.get_fully_qualified_name()}: fix",
                                                   "s2dhm_ros", stamp_ns, self._types))
        if outcome.status != PUBLISHED:
            self._stats.record_failure(outcome.reason)
            self.get_logger().warning(f"no pose for the image at {stamp_ns} ns: {outcome.reason}",
                                      throttle_duration_sec=5.0)
            return
        fix = outcome.fix
        pose_msg = pose_with_covariance_stamped(fix, self._types)
        with self._localizer_lock:  # not while ~/reload_map swaps the map: once swapped, this fix is stale
            if not self._frames.still_current(outcome):
                return
            self._pose_pub.publish(pose_msg)
            if fix.tf is not None:
                tf = self._tf_republisher.on_fix(fix.tf, self.get_clock().now().nanoseconds, generation)
                self._tf_broadcaster.sendTransform(transform_stamped(tf, self._types))
            if self._initial_pose_pub is not None and self._initial_pose.take():
                self._initial_pose_pub.publish(pose_msg)
        if fix.tf is None and fix.tf_error is not None:
            self.get_logger().warning(fix.tf_error, throttle_duration_sec=5.0)
        self._stats.record_success((self.get_clock().now().nanoseconds - stamp_ns) / 1e9)

    def _lookup(self, target: str, source: str, stamp_ns: int) -> Pose:
        try:
            transform = self._tf_buffer.lookup_transform(target, source, Time(nanoseconds=stamp_ns),
                                                         timeout=Duration(seconds=self.settings.tf_timeout_s))
        except TransformException as e:
            raise LookupError(f"no transform {target} <- {source} at {stamp_ns} ns ({e})") from e
        try:
            return pose_from_transform(transform.transform)
        except ValueError as e:  # NaN odometry, a non-unit quaternion
            raise LookupError(f"transform {target} <- {source} at {stamp_ns} ns is not a valid pose ({e})") from e

    def _republish_tf(self) -> None:
        """Timer: the last map->odom again, stamped now + tf_future_dating_s (nothing before the first fix)."""
        tf = self._tf_republisher.tick(self.get_clock().now().nanoseconds)
        if tf is not None:
            self._tf_broadcaster.sendTransform(transform_stamped(tf, self._types))

    def _on_frame_error(self, pair: tuple[int, Any, CameraInfo], error: Exception) -> None:
        if self._worker.stopping:  # e.g. a publish after Ctrl-C shut the context down: not a failure of the frame
            return
        self._stats.record_failure(str(error))
        self.get_logger().warning(f"frame at {pair[0]} ns failed: {error}", throttle_duration_sec=5.0)

    def _on_reload_map(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self.reload_map()
        self._report_reload(response.success, response.message)
        return response

    def _report_reload(self, ok: bool, message: str) -> None:
        # One severity per call site: rclpy's logger refuses a call site that changes severity.
        if ok:
            self.get_logger().info(message)
        else:
            self.get_logger().error(message)

    def _publish_map(self, localizer: Localizer) -> None:
        """The map for RViz, once per (re)load, on latched topics."""
        if self._map_pubs is None:
            return
        frame, stamp_ns = self.settings.map_frame or localizer.map.frame_id, self.get_clock().now().nanoseconds
        self._map_pubs[0].publish(point_cloud(map_points(localizer.map), frame, stamp_ns, self._types))
        self._map_pubs[1].publish(pose_array(reference_poses(localizer.map), frame, stamp_ns, self._types))

    def _map_frame(self) -> str | None:
        with self._localizer_lock:
            localizer = self._localizer
        return self.settings.map_frame or (localizer.map.frame_id if localizer is not None else None)

    def _on_initialpose(self, msg: PoseWithCovarianceStamped) -> None:
        try:
            message = self._frames.set_initial_pose(pose_of(msg.pose.pose), covariance_of(msg),
                                                    stamp_ns_of(msg.header.stamp), msg.header.frame_id,
                                                    self._map_frame())
        except ValueError as e:
            self.get_logger().warning(f"initialpose ignored: {e}")
            return
        self.get_logger().info(message)

    def _on_reinitialize(self, request: Empty.Request, response: Empty.Response) -> Empty.Response:
        self._frames.priors.reinitialize()
        self.get_logger().info("prior dropped: the next frames are localized against the whole map")
        return response

    def _on_trigger(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self._map_frame() is None:
            response.success, response.message = False, "no map loaded: set `map` and call ~/reload_map"
            return response
        response.success, response.message = True, self._frames.control.trigger()
        return response

    def _on_pause(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = True, self._frames.control.set_paused(True)
        return response

    def _on_resume(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = True, self._frames.control.set_paused(False)
        return response

    def _on_publish_initialpose(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._initial_pose.request()
        response.success = True
        response.message = f"the next fix will be published on {self._initial_pose_pub.topic_name}"
        return response

    def _publish_diagnostics(self) -> None:
        with self._localizer_lock:
            map_loaded = self._localizer is not None
        counters = self._worker.counters
        with self._matcher_lock:
            unmatched = self._matcher.unmatched_images
        diagnostic = self._stats.diagnostic(map_loaded, counters.submitted, counters.dropped, unmatched,
                                            self._frames.state())
        self._diagnostics_pub.publish(diagnostic_array(diagnostic, f"{self.get_fully_qualified_name()}: localization",
                                                       "s2dhm_ros", self.get_clock().now().nanoseconds, self._types))


def main(args: list[str] | None = None) -> int:
    # Ctrl-C: rclpy's SIGINT handler shuts the context down, which ends spin(); then the frame being localized is
    # waited for. Python's own handler is switched off before rclpy chains to it: its KeyboardInterrupt would land
    # at an arbitrary point of the main thread, e.g. in the `finally` below while the frame is awaited (a second
    # Ctrl-C lands there for sure): a traceback, then SIGABRT (exit -6, seen in the e2e test) with the worker still
    # inside native code, instead of exit 0 (see also runtime.stop_request).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rclpy.init(args=args)
    node = None
    try:
        node = LocalizerNode()
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except ExternalShutdownException:
        pass
    except _rclpy.RCLError:
        # spin() racing the SIGINT handler's shutdown: creating its wait set on the context just shut down
        # raises RCLError ("the given context is not valid"; 1 in 6 e2e runs) instead of returning. That is a
        # clean stop too; an RCLError while the context is still up is real.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
