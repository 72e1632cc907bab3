"""Stand-in for tf2_ros (no wheel, and no tf2_msgs to carry /tf) on real rclpy, for the tests only.

Transforms travel over real DDS, one geometry_msgs/TransformStamped per message: dynamic ones on STANDIN_TF, static
ones on STANDIN_TF_STATIC (transient local, like /tf_static). The buffer is the project's TfBuffer (interpolating,
one parent per frame); `lookup_transform` waits up to its timeout for the data, as tf2's does.
"""
from __future__ import annotations

import threading
import time as _time
from typing import Any

from geometry_msgs.msg import TransformStamped
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from rclpy.time import Time

from s2dhm_ros.geometry import Pose
from s2dhm_ros.io.tf_buffer import TfBuffer, TransformError
from s2dhm_ros.ros.messages import RclpyTypes, transform_stamped
from s2dhm_ros.runtime.fix import Transform

STANDIN_TF = "/tf_standin"
STANDIN_TF_STATIC = "/tf_static_standin"
STATIC_QOS = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class TransformException(Exception):
    pass


class LookupException(TransformException):
    pass


class ExtrapolationException(TransformException):
    pass


class Buffer:
    def __init__(self, cache_time: Duration | None = None, node: Node | None = None) -> None:
        self._tf = TfBuffer()
        self._changed = threading.Condition()

    def set_transform(self, transform: TransformStamped, authority: str) -> bool:
        return self._add(transform, static=False)

    def set_transform_static(self, transform: TransformStamped, authority: str) -> bool:
        return self._add(transform, static=True)

    def _add(self, t: TransformStamped, static: bool) -> bool:
        stamp = t.header.stamp.sec * 1_000_000_000 + t.header.stamp.nanosec
        pose = Pose.from_message_fields(t.transform.translation, t.transform.rotation)
        with self._changed:
            self._tf.add_transform(t.header.frame_id, t.child_frame_id, pose, stamp, static=static)
            self._changed.notify_all()
        return True

    def lookup_transform(self, target_frame: str, source_frame: str, time: Time,
                         timeout: Duration = Duration()) -> TransformStamped:
        deadline = _time.monotonic() + timeout.nanoseconds / 1e9
        with self._changed:
            while True:
                try:
                    pose = self._tf.lookup(target_frame, source_frame, time.nanoseconds)
                    break
                except TransformError as e:
                    left = deadline - _time.monotonic()
                    if left <= 0:
                        raise LookupException(str(e)) from e
                    self._changed.wait(left)
        return transform_stamped(Transform(target_frame, source_frame, pose, time.nanoseconds), RclpyTypes())


class TransformListener:
    def __init__(self, buffer: Buffer, node: Node, *, spin_thread: bool = False, qos: Any = 100,
                 static_qos: Any = STATIC_QOS) -> None:
        self.buffer = buffer
        node.create_subscription(TransformStamped, STANDIN_TF, lambda m: buffer.set_transform(m, "standin"), qos)
        node.create_subscription(TransformStamped, STANDIN_TF_STATIC,
                                 lambda m: buffer.set_transform_static(m, "standin"), static_qos)


class TransformBroadcaster:
    def __init__(self, node: Node, qos: Any = 100) -> None:
        self._pub = node.create_publisher(TransformStamped, STANDIN_TF, qos)

    def sendTransform(self, transform: TransformStamped | list[TransformStamped]) -> None:  # noqa: N802 (tf2's name)
        for t in transform if isinstance(transform, list) else [transform]:
            self._pub.publish(t)
