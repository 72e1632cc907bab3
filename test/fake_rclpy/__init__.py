"""A narrow stand-in for the parts of rclpy, tf2_ros and cv_bridge the nodes use, to test their wiring here.

Never shipped. Signatures follow the documented Humble/Jazzy APIs (keyword-only options where rclpy has them);
behaviour is reduced to recording: publishers keep what they publish, the node keeps its subscriptions, services,
timers and declared parameters, the TF buffer answers from transforms the test sets. `install(monkeypatch)` puts
the fake modules in sys.modules.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any, Callable

from .messages import empty_service, message_class, package_module, trigger_service

MESSAGE_PACKAGES = {
    "builtin_interfaces.msg": ["Time", "Duration"],
    "std_msgs.msg": ["Header"],
    "geometry_msgs.msg": ["Point", "Quaternion", "Pose", "PoseArray", "PoseWithCovariance",
                          "PoseWithCovarianceStamped", "Vector3", "Transform", "TransformStamped"],
    "sensor_msgs.msg": ["Image", "CompressedImage", "CameraInfo", "RegionOfInterest", "PointCloud2", "PointField"],
    "diagnostic_msgs.msg": ["DiagnosticArray", "DiagnosticStatus", "KeyValue"],
    "tf2_msgs.msg": ["TFMessage"],
}

# The project's modules that import rclpy & co. at import time.
ROS_IMPORTING_MODULES = ("s2dhm_ros.ros.node_parameters", "s2dhm_ros.ros.localizer_node",
                         "s2dhm_ros.ros.map_builder_node")


# --- rcl_interfaces / rclpy.parameter -------------------------------------------------------------------------

@dataclass
class ParameterDescriptor:
    name: str = ""
    type: int = 0
    description: str = ""
    additional_constraints: str = ""
    read_only: bool = False
    dynamic_typing: bool = False


class Parameter:
    def __init__(self, name: str, type_: Any = None, value: Any = None) -> None:
        self.name, self.value = name, value


class InvalidParameterTypeException(Exception):
    """rclpy.exceptions: raised by declare_parameter when the override's type is not the declared one (nothing is
    declared then)."""


class ParameterUninitializedException(Exception):
    pass


# --- time ---------------------------------------------------------------------------------------------------------

class Time:
    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0, clock_type: Any = None) -> None:
        self.nanoseconds = int(seconds * 1e9) + int(nanoseconds)


class Duration:
    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0) -> None:
        self.nanoseconds = int(seconds * 1e9) + int(nanoseconds)


class Clock:
    def __init__(self) -> None:
        self.now_ns = 0

    def now(self) -> Time:
        return Time(nanoseconds=self.now_ns)


# --- logging --------------------------------------------------------------------------------------------------------

class Logger:
    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []
        self._severity_of_site: dict[Any, str] = {}

    def _log(self, severity: str, message: str, **kwargs: Any) -> bool:
        assert set(kwargs) <= {"throttle_duration_sec", "throttle_time_source_type", "skip_first", "once"}, kwargs
        site = sys._getframe(2).f_code, sys._getframe(2).f_lineno  # rclpy: one severity per call site
        assert self._severity_of_site.setdefault(site, severity) == severity, \
            "Logger severity cannot be changed between calls."
        self.records.append((severity, str(message)))
        return True

    def debug(self, message: str, **kwargs: Any) -> bool:
        return self._log("DEBUG", message, **kwargs)

    def info(self, message: str, **kwargs: Any) -> bool:
        return self._log("INFO", message, **kwargs)

    def warning(self, message: str, **kwargs: Any) -> bool:
        return self._log("WARN", message, **kwargs)

    def error(self, message: str, **kwargs: Any) -> bool:
        return self._log("ERROR", message, **kwargs)


# --- node -------------------------------------------------------------------------------------------------------------

class ReliabilityPolicy:
    RELIABLE, BEST_EFFORT = "reliable", "best_effort"


class DurabilityPolicy:
    VOLATILE, TRANSIENT_LOCAL = "volatile", "transient_local"


class QoSProfile:
    def __init__(self, *, depth: int = 10, reliability: str = "reliable", durability: str = "volatile",
                 **kwargs: Any) -> None:
        self.depth, self.reliability, self.durability = depth, reliability, durability


qos_profile_sensor_data = QoSProfile(depth=5, reliability="best_effort")


class CallbackGroup:
    pass


class MutuallyExclusiveCallbackGroup(CallbackGroup):
    pass


class ReentrantCallbackGroup(CallbackGroup):
    pass


@dataclass
class Publisher:
    msg_type: type
    topic: str
    qos_profile: Any
    published: list = field(default_factory=list)

    def publish(self, msg: Any) -> None:
        assert isinstance(msg, self.msg_type), f"{self.topic} takes {self.msg_type.__name__}, got {type(msg)}"
        self.published.append(msg)

    @property
    def topic_name(self) -> str:
        """The fully resolved name (rclpy: Publisher.topic_name)."""
        return self.topic


@dataclass
class Subscription:
    msg_type: type
    topic: str
    callback: Callable
    qos_profile: Any
    callback_group: Any


@dataclass
class Service:
    srv_type: type
    srv_name: str
    callback: Callable
    callback_group: Any

    def call(self) -> Any:
        return self.callback(self.srv_type.Request(), self.srv_type.Response())


@dataclass
class Timer:
    timer_period_sec: float
    callback: Callable
    callback_group: Any = None
    clock: Any = None


class Node:
    """rclpy.node.Node(node_name, *, context=None, cli_args=None, namespace=None, use_global_arguments=True,
    enable_rosout=True, start_parameter_services=True, parameter_overrides=None, allow_undeclared_parameters=False,
    automatically_declare_parameters_from_overrides=False)."""

    def __init__(self, node_name: str, *, context: Any = None, cli_args: Any = None, namespace: str | None = None,
                 use_global_arguments: bool = True, enable_rosout: bool = True,
                 start_parameter_services: bool = True, parameter_overrides: list[Parameter] | None = None,
                 allow_undeclared_parameters: bool = False,
                 automatically_declare_parameters_from_overrides: bool = False) -> None:
        # rcl makes a relative namespace absolute ("robot1" -> "/robot1"); none is "/".
        self._name, self._namespace = node_name, "/" + (namespace or "").lstrip("/")
        self._overrides = {p.name: p.value for p in parameter_overrides or []}
        self.parameters: dict[str, Parameter] = {"use_sim_time": Parameter("use_sim_time", value=False)}
        self.descriptors: dict[str, ParameterDescriptor] = {}
        self.publishers: dict[str, Publisher] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.services: dict[str, Service] = {}
        self.timers: list[Timer] = []
        self._clock, self._logger = Clock(), Logger()
        self.destroyed = False

    def get_name(self) -> str:
        return self._name

    def get_fully_qualified_name(self) -> str:
        return self._namespace.rstrip("/") + "/" + self._name

    def resolve(self, topic: str) -> str:
        if topic.startswith("~/"):
            return self.get_fully_qualified_name() + topic[1:]
        return topic if topic.startswith("/") else self._namespace.rstrip("/") + "/" + topic

    def declare_parameter(self, name: str, value: Any = None, descriptor: ParameterDescriptor | None = None,
                          ignore_override: bool = False) -> Parameter:
        descriptor = descriptor or ParameterDescriptor()
        assert name not in self.parameters, f"parameter {name} already declared"
        given = self._overrides.get(name, value) if not ignore_override else value
        if not descriptor.dynamic_typing and value is not None and type(given) is not type(value):
            raise InvalidParameterTypeException(f"parameter {name}: {given!r} is not a {type(value).__name__}")
        self.parameters[name] = Parameter(name, value=given)
        self.descriptors[name] = descriptor
        return self.parameters[name]

    def get_parameter(self, name: str) -> Parameter:
        parameter = self.parameters[name]
        if parameter.value is None and not self.descriptors[name].dynamic_typing:
            raise ParameterUninitializedException(name)
        return parameter

    def create_publisher(self, msg_type: type, topic: str, qos_profile: Any, *, callback_group: Any = None,
                         event_callbacks: Any = None, qos_overriding_options: Any = None,
                         publisher_class: Any = None) -> Publisher:
        publisher = Publisher(msg_type, self.resolve(topic), qos_profile)
        self.publishers[publisher.topic] = publisher
        return publisher

    def create_subscription(self, msg_type: type, topic: str, callback: Callable, qos_profile: Any, *,
                            callback_group: Any = None, event_callbacks: Any = None,
                            qos_overriding_options: Any = None, raw: bool = False) -> Subscription:
        subscription = Subscription(msg_type, self.resolve(topic), callback, qos_profile, callback_group)
        self.subscriptions[subscription.topic] = subscription
        return subscription

    def create_service(self, srv_type: type, srv_name: str, callback: Callable, *, qos_profile: Any = None,
                       callback_group: Any = None) -> Service:
        service = Service(srv_type, self.resolve(srv_name), callback, callback_group)
        self.services[service.srv_name] = service
        return service

    def create_timer(self, timer_period_sec: float, callback: Callable, callback_group: Any = None,
                     clock: Any = None) -> Timer:
        """rclpy: create_timer(timer_period_sec, callback, callback_group=None, clock=None) (Jazzy adds autostart)."""
        timer = Timer(timer_period_sec, callback, callback_group, clock)
        self.timers.append(timer)
        return timer

    def get_clock(self) -> Clock:
        return self._clock

    def get_logger(self) -> Logger:
        return self._logger

    def destroy_node(self) -> None:
        self.destroyed = True


class ExternalShutdownException(Exception):
    pass


class MultiThreadedExecutor:
    def __init__(self, num_threads: int | None = None, *, context: Any = None) -> None:
        self.nodes: list[Node] = []

    def add_node(self, node: Node) -> bool:
        self.nodes.append(node)
        return True

    def spin(self) -> None:
        raise KeyboardInterrupt  # Ctrl-C right away


# --- tf2_ros and cv_bridge -------------------------------------------------------------------------------------------

class TransformException(Exception):
    pass


class LookupException(TransformException):
    pass


class Buffer:
    """tf2_ros.Buffer(cache_time=None, node=None); the test fills `transforms[(target, source)]`."""

    def __init__(self, cache_time: Duration | None = None, node: Node | None = None) -> None:
        self.transforms: dict[tuple[str, str], Any] = {}
        self.lookups: list[tuple[str, str, int]] = []

    def lookup_transform(self, target_frame: str, source_frame: str, time: Time,
                         timeout: Duration = Duration()) -> Any:
        assert isinstance(time, Time) and isinstance(timeout, Duration)
        self.lookups.append((target_frame, source_frame, time.nanoseconds))
        if (target_frame, source_frame) not in self.transforms:
            raise LookupException(f'"{source_frame}" passed to lookupTransform argument source_frame does not exist')
        return self.transforms[(target_frame, source_frame)]


class TransformListener:
    def __init__(self, buffer: Buffer, node: Node, *, spin_thread: bool = False, qos: Any = None,
                 static_qos: Any = None) -> None:
        self.buffer, self.node = buffer, node


class TransformBroadcaster:
    def __init__(self, node: Node, qos: Any = 100) -> None:
        self.sent: list[Any] = []

    def sendTransform(self, transform: Any) -> None:  # noqa: N802 (tf2_ros's name)
        transforms = transform if isinstance(transform, list) else [transform]
        stamped = message_class("geometry_msgs/msg/TransformStamped")
        assert all(isinstance(t, stamped) for t in transforms)
        self.sent.extend(transforms)


class CvBridge:
    def cv2_to_imgmsg(self, cvim: Any, encoding: str = "passthrough", header: Any = None) -> Any:
        image = message_class("sensor_msgs/msg/Image")
        height, width = cvim.shape[:2]
        channels = 1 if cvim.ndim == 2 else cvim.shape[2]
        msg = image(height=height, width=width, encoding=encoding, is_bigendian=0, step=width * channels,
                    data=cvim.tobytes())
        if header is not None:
            msg.header = header
        return msg


# --- installation -----------------------------------------------------------------------------------------------------

class RclpyState:
    def __init__(self) -> None:
        self.initialized = False

    def init(self, *, args: list[str] | None = None, context: Any = None, domain_id: int | None = None) -> None:
        self.initialized = True

    def try_shutdown(self, *, context: Any = None) -> None:
        self.initialized = False


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def install(monkeypatch: Any) -> RclpyState:
    """Put the fake modules in sys.modules (undone by monkeypatch); returns rclpy's init/shutdown state."""
    state = RclpyState()
    modules = {
        "rclpy": _module("rclpy", init=state.init, try_shutdown=state.try_shutdown),
        "rclpy.node": _module("rclpy.node", Node=Node),
        "rclpy.qos": _module("rclpy.qos", QoSProfile=QoSProfile, qos_profile_sensor_data=qos_profile_sensor_data,
                             ReliabilityPolicy=ReliabilityPolicy, DurabilityPolicy=DurabilityPolicy),
        "rclpy.callback_groups": _module("rclpy.callback_groups", CallbackGroup=CallbackGroup,
                                         MutuallyExclusiveCallbackGroup=MutuallyExclusiveCallbackGroup,
                                         ReentrantCallbackGroup=ReentrantCallbackGroup),
        "rclpy.executors": _module("rclpy.executors", MultiThreadedExecutor=MultiThreadedExecutor,
                                   ExternalShutdownException=ExternalShutdownException),
        "rclpy.time": _module("rclpy.time", Time=Time),
        "rclpy.duration": _module("rclpy.duration", Duration=Duration),
        "rclpy.parameter": _module("rclpy.parameter", Parameter=Parameter),
        "rclpy.exceptions": _module("rclpy.exceptions", InvalidParameterTypeException=InvalidParameterTypeException,
                                    ParameterUninitializedException=ParameterUninitializedException),
        "rcl_interfaces": _module("rcl_interfaces"),
        "rcl_interfaces.msg": _module("rcl_interfaces.msg", ParameterDescriptor=ParameterDescriptor),
        "tf2_ros": _module("tf2_ros", Buffer=Buffer, TransformListener=TransformListener,
                           TransformBroadcaster=TransformBroadcaster, TransformException=TransformException,
                           LookupException=LookupException),
        "cv_bridge": _module("cv_bridge", CvBridge=CvBridge),
        "std_srvs": _module("std_srvs"),
        "std_srvs.srv": _module("std_srvs.srv", Trigger=trigger_service(), Empty=empty_service()),
    }
    for dotted, names in MESSAGE_PACKAGES.items():
        package, kind = dotted.split(".")
        modules.setdefault(package, _module(package))
        modules[dotted] = package_module(package, kind, names)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    for name in ROS_IMPORTING_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)  # re-imported against the fakes
    return state
