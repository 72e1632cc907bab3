"""The `map_builder` node: builds a map from a bag path given as parameters, logs progress, exits with a status.

It is a one-shot process (0 on success, 1 on failure) so that a launch file or a script can chain on it; the work
itself is `runtime.map_from_bag`, the same code the command line uses.
"""
from __future__ import annotations

import logging
import sys

import rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from ..config import MapBuilderConfig
from ..io.bag_source import BagReadStats
from ..mapping.engine import LocalEngine
from ..runtime.map_from_bag import build_map_from_bag
from ..runtime.node_config import MapBuilderNodeConfig
from ..runtime.stop_request import StopRequest, StoppableEngine, StopRequested
from . import node_parameters
from .node_specs import map_builder_parameter_specs
from .parameters import config_from_parameters

NODE_NAME = "map_builder"


class _RosLogHandler(logging.Handler):
    """Forwards the library's Python log records (e.g. the build summary) to the node's ROS logger."""

    def __init__(self, node: Node) -> None:
        super().__init__(logging.INFO)
        self._node = node

    def emit(self, record: logging.LogRecord) -> None:
        # One call site per severity: rclpy's logger refuses a call site that changes severity.
        logger, message = self._node.get_logger(), self.format(record)
        if record.levelno >= logging.ERROR:
            logger.error(message)
        elif record.levelno >= logging.WARNING:
            logger.warning(message)
        else:
            logger.info(message)


class MapBuilderNode(Node):
    def __init__(self, stop: StopRequest | None = None, **kwargs) -> None:
        """`stop`: the build ends at its next work item (image read, image's features, chunk of pairs or tracks)
        once it is requested, `run` returning 130."""
        super().__init__(NODE_NAME, **kwargs)
        self._stop = stop or StopRequest()
        specs = map_builder_parameter_specs()
        node_parameters.declare(self, specs)
        values = node_parameters.values(self, specs)
        self.settings = config_from_parameters(MapBuilderNodeConfig, values)
        self.config = config_from_parameters(MapBuilderConfig, values)
        self._logged_tenth = -1

    def run(self) -> int:
        handler = _RosLogHandler(self)
        library_log = logging.getLogger("s2dhm_ros")
        library_log.addHandler(handler)
        library_log.setLevel(logging.INFO)
        try:
            report = build_map_from_bag(self.settings, self.config, on_image=self._on_image,
                                        engine=StoppableEngine(LocalEngine(), self._stop))
        except StopRequested:
            self.get_logger().warning(f"interrupted: no map written to {self.settings.output}; run again with the "
                                      "same parameters to resume from the cached features")
            return 130
        except Exception as e:  # every failure ends the process with a message and status 1
            self.get_logger().error(f"map building failed: {e}")
            return 1
        finally:
            library_log.removeHandler(handler)
        self.get_logger().info(f"map written to {report.output}: {report.build}; {report.bag.summary()}")
        return 0

    def _on_image(self, stats: BagReadStats) -> None:
        self._stop.check()
        tenth = 10 * stats.images_seen // max(stats.images_total, 1)
        if tenth > self._logged_tenth:
            self._logged_tenth = tenth
            self.get_logger().info(f"reading {self.settings.bag}: {stats.images_seen}/{stats.images_total} images, "
                                   f"{stats.kept} keyframes")


def main(args: list[str] | None = None) -> int:
    # Ctrl-C (SIGINT, also how ros2 launch stops a node) must stop the build. rclpy's SIGINT handler only shuts the
    # context down (made for executors, which then return; the build never spins), so it is not installed. Nor is
    # Python's KeyboardInterrupt relied on (see runtime.stop_request: caught, it could still end the process with
    # -2; and it could not be delivered at all when SIGINT was ignored at start, as in a script's background job).
    # The signal requests a stop that the build honours at its next work item; further Ctrl-C are no-ops (SIGTERM
    # still ends it at once). The map is written atomically at the very end: an interrupted build leaves no map,
    # only its feature cache, from which the next run resumes.
    stop = StopRequest().install()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    try:
        node = MapBuilderNode(stop=stop)
        return node.run()
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
