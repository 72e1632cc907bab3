"""The localizer's main() on real rclpy when spin() races Ctrl-C: rclpy's SIGINT handler shuts the context down
while the executor is between waits, and creating the next wait set raises RCLError instead of returning (1 in 6
runs of the e2e test). That is a clean stop (exit 0); an RCLError while the context is up is a real error."""
import signal

import pytest

import real_ros

rclpy = real_ros.import_rclpy()

from rclpy.impl.implementation_singleton import rclpy_implementation  # noqa: E402

from s2dhm_ros.ros import localizer_node  # noqa: E402

RCLError = rclpy_implementation.RCLError


class _Node:
    stopped = False

    def shutdown(self) -> None:
        _Node.stopped = True

    def destroy_node(self) -> None:
        pass


def _executor(shut_down_first: bool):
    class Executor:
        def add_node(self, node) -> None:
            pass

        def spin(self) -> None:
            if shut_down_first:
                rclpy.shutdown()  # what the SIGINT handler does
            raise RCLError("failed to initialize wait set: the given context is not valid")
    return Executor


@pytest.fixture
def main(monkeypatch):
    handler = signal.getsignal(signal.SIGINT)
    _Node.stopped = False
    monkeypatch.setattr(localizer_node, "LocalizerNode", _Node)
    yield localizer_node.main
    signal.signal(signal.SIGINT, handler)  # main() ignores SIGINT in its process


def test_spin_ended_by_the_shutdown_is_a_clean_stop(main, monkeypatch):
    monkeypatch.setattr(localizer_node, "MultiThreadedExecutor", _executor(shut_down_first=True))
    assert main([]) == 0
    assert _Node.stopped and not rclpy.ok()


def test_an_error_while_ros_is_up_is_raised(main, monkeypatch):
    monkeypatch.setattr(localizer_node, "MultiThreadedExecutor", _executor(shut_down_first=False))
    with pytest.raises(RCLError):
        main([])
    assert _Node.stopped and not rclpy.ok()  # and the node was still stopped, the context shut down
