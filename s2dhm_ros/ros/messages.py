"""The node's outputs as ROS messages, built from either rclpy's message classes or a rosbags typestore's.

Both kinds of classes have the same fields and accept keyword arguments, so one set of builders serves the live
node and the offline tools: `bag_writer`'s builders take any object whose `.types` maps a type name such as
"geometry_msgs/msg/Pose" to its class; `RclpyTypes` is that object for rclpy, `bag_writer.default_typestore()` for
rosbags. Nothing here imports rclpy before a class is asked for.
"""
from __future__ import annotations

import array
import importlib
from typing import Any, Mapping

import numpy as np

from ..geometry import Pose
from ..io import bag_writer
from ..runtime.fix import Fix, Transform
from ..runtime.stats import Diagnostic


class _RclpyClasses(Mapping[str, type]):
    """"pkg/msg/Name" -> the generated rclpy class `pkg.msg.Name`, imported on first use."""

    def __getitem__(self, name: str) -> type:
        try:
            package, kind, cls = name.split("/")
            return getattr(importlib.import_module(f"{package}.{kind}"), cls)
        except (ValueError, ImportError, AttributeError) as e:
            raise KeyError(f"no ROS message class {name!r} ({e})") from e

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


class RclpyTypes:
    """Message classes of the running ROS installation, for the builders' `typestore` argument."""

    types: Mapping[str, type] = _RclpyClasses()


def pose_with_covariance_stamped(fix: Fix, typestore: Any) -> Any:
    """geometry_msgs/PoseWithCovarianceStamped of the fix: the image stamp, frame_id = the map frame."""
    return bag_writer.pose_with_covariance_stamped_msg(fix.map_frame, fix.stamp_ns, fix.pose.map_from_frame,
                                                       fix.pose.covariance, typestore=typestore)


def transform_stamped(transform: Transform, typestore: Any) -> Any:
    return bag_writer.transform_stamped_msg(transform.parent, transform.child, transform.parent_from_child,
                                            transform.stamp_ns, typestore=typestore)


def pose_from_transform(transform: Any) -> Pose:
    """geometry_msgs/Transform (e.g. `lookup_transform(...).transform`) as the Pose parent_from_child."""
    return Pose.from_message_fields(transform.translation, transform.rotation)


def covariance_of(msg: Any) -> np.ndarray:
    """The 6x6 covariance of a PoseWithCovarianceStamped (row-major 36 values in ROS order)."""
    return np.asarray(msg.pose.covariance, dtype=np.float64).reshape(6, 6)


def diagnostic_array(diagnostic: Diagnostic, name: str, hardware_id: str, stamp_ns: int, typestore: Any) -> Any:
    """diagnostic_msgs/DiagnosticArray with one status (level from the class constants: a byte in rclpy, an int in
    rosbags)."""
    types = typestore.types
    status_cls, key_value = types["diagnostic_msgs/msg/DiagnosticStatus"], types["diagnostic_msgs/msg/KeyValue"]
    status = status_cls(level=getattr(status_cls, diagnostic.level), name=name, message=diagnostic.message,
                        hardware_id=hardware_id,
                        values=[key_value(key=k, value=v) for k, v in diagnostic.values.items()])
    return types["diagnostic_msgs/msg/DiagnosticArray"](
        header=bag_writer.header_msg("", stamp_ns, typestore=typestore), status=[status])


def point_cloud(points: np.ndarray, frame_id: str, stamp_ns: int, typestore: Any) -> Any:
    """sensor_msgs/PointCloud2 of (M, 3) float32 points: fields x, y, z, unorganized (height 1), little-endian."""
    types = typestore.types
    field_cls = types["sensor_msgs/msg/PointField"]
    points = np.ascontiguousarray(points, dtype="<f4").reshape(-1, 3)
    raw = points.tobytes()
    # rclpy takes an array of bytes, a rosbags typestore a uint8 numpy array
    data = array.array("B", raw) if isinstance(typestore, RclpyTypes) else np.frombuffer(raw, dtype=np.uint8)
    return types["sensor_msgs/msg/PointCloud2"](
        header=bag_writer.header_msg(frame_id, stamp_ns, typestore=typestore), height=1, width=len(points),
        fields=[field_cls(name=n, offset=4 * i, datatype=field_cls.FLOAT32, count=1) for i, n in enumerate("xyz")],
        is_bigendian=False, point_step=12, row_step=12 * len(points), data=data, is_dense=True)


def pose_array(poses: list[Pose], frame_id: str, stamp_ns: int, typestore: Any) -> Any:
    """geometry_msgs/PoseArray of poses in `frame_id`."""
    return typestore.types["geometry_msgs/msg/PoseArray"](
        header=bag_writer.header_msg(frame_id, stamp_ns, typestore=typestore),
        poses=[bag_writer.pose_msg(p, typestore=typestore) for p in poses])


def pose_of(msg: Any) -> Pose:
    """geometry_msgs/Pose (e.g. `initialpose.pose.pose`) as a Pose; ValueError when not finite or not a rotation."""
    q = msg.orientation
    norm = float(np.sqrt(q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2))
    if not np.isfinite(norm) or abs(norm - 1.0) > 1e-3:
        raise ValueError(f"the orientation quaternion has norm {norm:.4g}, not 1")
    return Pose.from_message_fields(msg.position, q)
