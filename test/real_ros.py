"""Running the nodes on the real ROS 2 Python wheels (the `ros` extra): environment, rclpy import, bag playback.

`import_rclpy()` is what every real-rclpy test module calls first: without the wheels it skips the module with the
reason, except on CI (CI=true), where it fails it, so that .ci/run cannot pass with these tests silently skipped.

The environment (`ENVIRONMENT`, applied to this process by test/conftest.py and given to node subprocesses):
- ROS_DOMAIN_ID from the process id and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, so that parallel test runs on one
  machine do not see each other's nodes;
- ROS_PYTHON_CHECK_FIELDS=1: rclpy's messages check field types only when it is set (read at message import);
- FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA, as launch/localize.launch.py sets it (README: images are lost without).
The wheels find their shared libraries themselves (ros_wheels_bootstrapper re-executes Python with LD_LIBRARY_PATH
set) and use Fast DDS, the only RMW installed; nothing needs sourcing.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).resolve().parent / "ros_standins"

ENVIRONMENT = {
    "ROS_DOMAIN_ID": str(1 + os.getpid() % 100),
    "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    "ROS_PYTHON_CHECK_FIELDS": "1",
    "FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA",
}


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


# Decided once, before import_rclpy() puts the stand-ins on the path (after which they would be found).
_STANDINS_NEEDED = _missing("tf2_ros") or _missing("tf2_msgs") or _missing("cv_bridge")


def use_standins() -> bool:
    """True when tf2_ros/cv_bridge have to be stood in (no ROS installation sourced: only the wheels)."""
    return _STANDINS_NEEDED


def import_rclpy() -> Any:
    """rclpy, after putting the stand-ins for wheel-less packages on sys.path when needed; skip or fail if absent."""
    try:
        import rclpy
    except ImportError as e:
        reason = (f"the real-rclpy tests need the ROS 2 wheels: pip install -e '.[test,ros]' (rclpy: {e})")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason, allow_module_level=True)
    if use_standins() and str(STANDINS) not in sys.path:
        sys.path.insert(0, str(STANDINS))
    return rclpy


def subprocess_environment() -> dict[str, str]:
    """The environment of a node subprocess: ENVIRONMENT, this checkout (and the stand-ins when needed) first."""
    env = {**os.environ, **ENVIRONMENT, "PYTHONUNBUFFERED": "1", "RCUTILS_COLORIZED_OUTPUT": "0"}
    paths = [str(STANDINS)] if use_standins() else []
    env["PYTHONPATH"] = os.pathsep.join(paths + [str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.02) -> Any:
    """Poll `condition` until it is truthy (returned) or fail after `timeout_s` saying `what` did not happen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


def stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


class BagMessages:
    """A bag's messages as rclpy messages, as `ros2 bag play` would send them (the recorded CDR bytes deserialized
    by rclpy), with /tf and /tf_static split into TransformStamped for the tf2_ros stand-in when tf2_msgs is
    absent."""

    def __init__(self, bag: Path, topics: list[str]) -> None:
        from rclpy.serialization import deserialize_message
        from rosbags.highlevel import AnyReader

        from s2dhm_ros.ros.messages import RclpyTypes
        classes = RclpyTypes().types
        self.messages: list[tuple[int, str, Any]] = []  # (bag time, topic, message)
        with AnyReader([Path(bag)]) as reader:
            connections = [c for c in reader.connections if c.topic in topics]
            for connection, t, raw in reader.messages(connections=connections):
                msgtype = connection.msgtype
                if msgtype == "tf2_msgs/msg/TFMessage" and use_standins():
                    tf_class = classes["geometry_msgs/msg/TransformStamped"]
                    store = reader.typestore
                    for tf in reader.deserialize(raw, msgtype).transforms:
                        cdr = store.serialize_cdr(tf, "geometry_msgs/msg/TransformStamped")
                        self.messages.append((t, connection.topic, deserialize_message(bytes(cdr), tf_class)))
                    continue
                self.messages.append((t, connection.topic, deserialize_message(bytes(raw), classes[msgtype])))

    def on(self, topic: str) -> list[Any]:
        return [m for _, name, m in self.messages if name == topic]


def tf_topics() -> tuple[str, str]:
    """(dynamic, static) topics TF travels on: the real /tf and /tf_static, or the tf2_ros stand-in's."""
    if use_standins():
        from tf2_ros import STANDIN_TF, STANDIN_TF_STATIC
        return STANDIN_TF, STANDIN_TF_STATIC
    return "/tf", "/tf_static"


class NodeProcess:
    """A node run as `python -m MODULE ARGS` (its own process, so that signals and exit are the real ones), its
    output (stdout and stderr, where ROS logs go) collected line by line."""

    def __init__(self, module: str, args: list[str], sigint_ignored: bool = False) -> None:
        """`sigint_ignored`: start it with SIGINT ignored, as a shell script's background job (`&`) starts."""
        import signal
        import subprocess
        import threading
        self.lines: list[str] = []
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT,
                                        env=subprocess_environment(), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
                                        if sigint_ignored else None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout_s: float) -> str:
        import re
        regex = re.compile(pattern)

        def found() -> str | None:
            if self.process.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"the node exited ({self.process.returncode}) before logging "
                                     f"{pattern!r}:\n{self.output}")
            return next((line for line in list(self.lines) if regex.search(line)), None)
        return wait_for(found, timeout_s, f"a line matching {pattern!r}; output so far:\n{self.output}")

    def interrupt(self, timeout_s: float) -> int:
        """SIGINT (Ctrl-C), then the exit status; killed and failed if it does not exit within `timeout_s`."""
        import signal
        import subprocess
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"no exit within {timeout_s} s of SIGINT:\n{self.output}") from None
        self._reader.join(5.0)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(5.0)


class Probe:
    """A test node on its own rclpy context, spun on a background thread: publishes, records topics, calls services.

    `record(topic, type)` keeps every message received on the topic in `received[topic]`."""

    def __init__(self, name: str = "s2dhm_test_probe") -> None:
        import threading

        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.received: dict[str, list[Any]] = {}
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException
        try:
            self._executor.spin()
        except ExternalShutdownException:
            pass

    def record(self, topic: str, msg_type: type, qos: Any = 10) -> list[Any]:
        messages = self.received.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, messages.append, qos)
        return messages

    def publisher(self, msg_type: type, topic: str, qos: Any = 10) -> Any:
        return self.node.create_publisher(msg_type, topic, qos)

    def call(self, srv_type: type, name: str, request: Any = None, timeout_s: float = 30.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            wait_for(lambda: client.service_is_ready(), timeout_s, f"service {name}")
            future = client.call_async(request if request is not None else srv_type.Request())
            wait_for(future.done, timeout_s, f"the response of {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        import rclpy
        self._executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(5.0)


def make_street(root: Path) -> Any:
    """The real-rclpy tests' shared data, small for speed: the synthetic street's day bag (8 images) and night bag
    (3 images), a map built from the day bag (the map_builder's code path), and the library's own result for each
    night image (what the node must publish for it). Images are 320x240: a frame then takes ~0.1 s to localize; at
    160x120 it took ~0.03 s, and the e2e test's Ctrl-C, sent when a pose arrives, then sometimes fell after the
    frame being localized had ended (exit 0 but nothing mid-frame to test; 1 CI run in ~10)."""
    from types import SimpleNamespace

    from s2dhm_ros.config import LocalizerConfig, MapBuilderConfig
    from s2dhm_ros.io.bag_reader import BagReader
    from s2dhm_ros.io.bag_source import BagSourceConfig
    from s2dhm_ros.io.camera_info import camera_from_camera_info
    from s2dhm_ros.io.images import image_from_msg
    from s2dhm_ros.localizer import Localizer
    from s2dhm_ros.runtime.map_from_bag import build_map_from_bag
    from s2dhm_ros.runtime.node_config import MapBuilderNodeConfig
    from s2dhm_ros.synthetic.street_bag import make_street_bags

    dataset = make_street_bags(root, num_frames=8, num_night_frames=3, image_size=(320, 240))
    map_dir = root / "map"
    build_map_from_bag(MapBuilderNodeConfig(bag=str(dataset.day.bag), output=str(map_dir),
                                            source=BagSourceConfig(image_topic=dataset.topics.image)),
                       MapBuilderConfig(), progress=False)
    localizer = Localizer.from_map(map_dir, LocalizerConfig())
    with BagReader(dataset.night.bag) as bag:
        images = [m.msg for m in bag.messages([dataset.topics.image])]
        infos = [m.msg for m in bag.messages([dataset.topics.camera_info])]
    library = [localizer.localize(image_from_msg(image), camera_from_camera_info(info, False))
               for image, info in zip(images, infos)]
    return SimpleNamespace(dataset=dataset, map_dir=map_dir, library=library)
