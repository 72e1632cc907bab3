"""Writing rosbag2 bags without a ROS install (through the `rosbags` library), and building the ROS messages the
project publishes or records: CameraInfo, TF, Odometry and PoseWithCovarianceStamped.

The builders return `rosbags` message objects of the chosen typestore (ROS 2 Humble by default): dataclasses with the
field names of the rclpy messages. They are shared by the synthetic bag generator, the offline localize-bag tool and
the ROS localization node, so that a pose written to a bag and a pose published live follow the same conventions.

Bags are written in rosbag2 metadata version 8, the older of the two `rosbags` writes, so that Humble and Jazzy both
play them: version 9 stores each topic's offered_qos_profiles as a YAML list (and QoS policies by name), which
Humble's rosbag2 fails to parse ("yaml-cpp: bad conversion"); version 8 stores it as a YAML string with numeric
policies, which Humble reads and Jazzy still accepts.

Conventions of the builders:
- Stamps are integer nanoseconds since the epoch (`stamp_ns`), split into `sec`/`nanosec` for the header.
- A `Pose` named `parent_from_child` maps child coordinates into the parent frame (x_parent = R x_child + t). That
  is exactly what a ROS transform parent→child and a pose "of the child in the parent frame" hold: the child's
  origin (t) and axes (the columns of R) expressed in the parent.
- Quaternions are written in ROS order (x, y, z, w) with w >= 0.
- Covariances are 6x6 row-major in ROS order (x, y, z, rotation about x, rotation about y, rotation about z), in the
  frame of the header (for poses) or of the child frame (for Odometry twists).
"""
from __future__ import annotations

import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Sequence

import numpy as np
from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from ..geometry import Camera, Pose

Storage = Literal["sqlite3", "mcap"]
STORAGE_PLUGINS: dict[str, StoragePlugin] = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
METADATA_VERSION: Literal[8] = 8  # not rosbags' latest (9), whose QoS Humble cannot parse (see the module docstring)

# The QoS that `ros2 bag play` re-offers for latched topics such as /tf_static: late subscribers still get them.
_NO_TIME = QosTime(sec=0, nsec=0)
LATCHED_QOS = Qos(
    history=QosHistory.KEEP_LAST, depth=1, reliability=QosReliability.RELIABLE,
    durability=QosDurability.TRANSIENT_LOCAL, deadline=_NO_TIME, lifespan=_NO_TIME,
    liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=_NO_TIME, avoid_ros_namespace_conventions=False)


@lru_cache(maxsize=None)
def default_typestore() -> Typestore:
    """The ROS 2 Humble message definitions (identical to Jazzy's for every type used here)."""
    return get_typestore(Stores.ROS2_HUMBLE)


class BagWriter:
    """A rosbag2 writer that leaves either a complete bag at `path` or nothing.

    The bag is written into a temporary directory next to `path` and renamed to `path` when the context closes
    without an exception; on an exception the temporary directory is removed. Use as a context manager:

        with BagWriter(out / "day", storage="mcap") as bag:
            bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", latched=True)
            bag.write("/tf_static", tf_message([...]), stamp_ns)

    `write` registers a topic it has not seen with the message's own type, so `add_topic` is only needed for a
    latched topic or to declare a topic before its first message.
    """

    def __init__(self, path: str | Path, storage: Storage = "sqlite3", typestore: Typestore | None = None) -> None:
        if storage not in STORAGE_PLUGINS:
            raise ValueError(f"unsupported bag storage {storage!r}; use one of {sorted(STORAGE_PLUGINS)}")
        self.path = Path(path)
        self.storage = storage
        self.typestore = typestore or default_typestore()
        self._tmpdir: Path | None = None
        self._writer: Writer | None = None
        self._connections: dict[str, Connection] = {}

    def __enter__(self) -> "BagWriter":
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists already; remove it or choose another output path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmpdir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.partial-", dir=self.path.parent))
        try:
            # The bag directory inside the temp dir carries the final name, so its storage file does too.
            self._writer = Writer(self._tmpdir / self.path.name, version=METADATA_VERSION,
                                  storage_plugin=STORAGE_PLUGINS[self.storage])
            self._writer.open()
        except BaseException:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._writer is not None and self._tmpdir is not None
        try:
            if exc_type is None:
                self._writer.close()
                (self._tmpdir / self.path.name).rename(self.path)
            else:
                self._writer.abort()
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._writer = None

    @property
    def topics(self) -> list[str]:
        return list(self._connections)

    def add_topic(self, topic: str, msgtype: str, latched: bool = False) -> None:
        """Declare a topic of `msgtype` (e.g. "sensor_msgs/msg/Image"); `latched` offers transient-local QoS."""
        if self._writer is None:
            raise RuntimeError("BagWriter is not open; use it as a context manager")
        if topic in self._connections:
            raise ValueError(f"topic {topic} is already in the bag")
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=self.typestore, offered_qos_profiles=[LATCHED_QOS] if latched else [])

    def write(self, topic: str, msg: Any, stamp_ns: int) -> None:
        """Serialize `msg` (a message object of this writer's typestore) and record it at time `stamp_ns`."""
        if topic not in self._connections:
            self.add_topic(topic, msg.__msgtype__)
        connection = self._connections[topic]
        if msg.__msgtype__ != connection.msgtype:
            raise TypeError(f"topic {topic} carries {connection.msgtype}, got a {msg.__msgtype__}")
        assert self._writer is not None
        self._writer.write(connection, int(stamp_ns), self.typestore.serialize_cdr(msg, connection.msgtype))


def _types(typestore: Typestore | None) -> Any:
    """The message classes of a typestore (the default one if None), by type name."""
    return (typestore or default_typestore()).types


def time_msg(stamp_ns: int, typestore: Typestore | None = None) -> Any:
    """builtin_interfaces/Time from integer nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return _types(typestore)["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def stamp_ns_of(time: Any) -> int:
    """Integer nanoseconds of a builtin_interfaces/Time (e.g. `msg.header.stamp`)."""
    return int(time.sec) * 1_000_000_000 + int(time.nanosec)


def header_msg(frame_id: str, stamp_ns: int, typestore: Typestore | None = None) -> Any:
    return _types(typestore)["std_msgs/msg/Header"](stamp=time_msg(stamp_ns, typestore), frame_id=frame_id)


def _quaternion_xyzw(R: np.ndarray) -> np.ndarray:
    w, x, y, z = Pose(R, np.zeros(3)).qvec
    return np.array([x, y, z, w])


def pose_msg(parent_from_child: Pose, typestore: Typestore | None = None) -> Any:
    """geometry_msgs/Pose of a child frame in its parent."""
    types = _types(typestore)
    x, y, z, w = _quaternion_xyzw(parent_from_child.R)
    tx, ty, tz = parent_from_child.t
    return types["geometry_msgs/msg/Pose"](
        position=types["geometry_msgs/msg/Point"](x=float(tx), y=float(ty), z=float(tz)),
        orientation=types["geometry_msgs/msg/Quaternion"](x=float(x), y=float(y), z=float(z), w=float(w)))


def _covariance(covariance: np.ndarray | None) -> np.ndarray:
    """A 6x6 covariance as the flat 36-vector ROS stores; None means unknown and is written as zeros."""
    if covariance is None:
        return np.zeros(36)
    c = np.asarray(covariance, dtype=np.float64)
    if c.size != 36:
        raise ValueError(f"covariance must be 6x6 (36 values), got shape {c.shape}")
    return c.reshape(36).copy()


# CameraInfo distortion model and coefficient order (ROS, i.e. OpenCV's) for each COLMAP camera model.
# Each entry: (distortion_model, function from the COLMAP parameters to D).
_DISTORTION = {
    "SIMPLE_PINHOLE": ("plumb_bob", lambda p: [0.0] * 5),
    "PINHOLE": ("plumb_bob", lambda p: [0.0] * 5),
    "SIMPLE_RADIAL": ("plumb_bob", lambda p: [p[3], 0.0, 0.0, 0.0, 0.0]),
    "RADIAL": ("plumb_bob", lambda p: [p[3], p[4], 0.0, 0.0, 0.0]),
    "OPENCV": ("plumb_bob", lambda p: [p[4], p[5], p[6], p[7], 0.0]),  # k1 k2 p1 p2 (k3 = 0)
    "FULL_OPENCV": ("rational_polynomial", lambda p: list(p[4:12])),  # k1 k2 p1 p2 k3 k4 k5 k6
    "OPENCV_FISHEYE": ("equidistant", lambda p: list(p[4:8])),  # k1 k2 k3 k4
}


def camera_info_msg(camera: Camera, stamp_ns: int, frame_id: str, typestore: Typestore | None = None) -> Any:
    """sensor_msgs/CameraInfo of a project `Camera`, for raw (unrectified) images.

    - distortion_model: "plumb_bob" for SIMPLE_PINHOLE/PINHOLE/SIMPLE_RADIAL/RADIAL/OPENCV (D = k1 k2 p1 p2 k3),
      "rational_polynomial" for FULL_OPENCV (D = k1 k2 p1 p2 k3 k4 k5 k6), "equidistant" for OPENCV_FISHEYE
      (D = k1 k2 k3 k4).
    - K: the calibration matrix in ROS/OpenCV pixel convention (pixel centres at integers), i.e. the principal
      point is COLMAP's minus 0.5: cx_ros = cx_colmap - 0.5. A reader turning CameraInfo back into a `Camera`
      must add the 0.5 back.
    - R = identity (monocular) and P = [K | 0]: the projection of the rectified image, which for a camera without
      distortion is the camera itself.
    """
    types = _types(typestore)
    model, distortion = _DISTORTION[camera.model]
    K = camera.K.copy()
    K[0, 2] -= 0.5
    K[1, 2] -= 0.5
    P = np.hstack([K, np.zeros((3, 1))])
    return types["sensor_msgs/msg/CameraInfo"](
        header=header_msg(frame_id, stamp_ns, typestore),
        height=camera.height, width=camera.width, distortion_model=model,
        d=np.array(distortion(camera.params), dtype=np.float64),
        k=K.reshape(9), r=np.eye(3).reshape(9), p=P.reshape(12),
        binning_x=0, binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def transform_stamped_msg(parent: str, child: str, parent_from_child: Pose, stamp_ns: int,
                          typestore: Typestore | None = None) -> Any:
    """geometry_msgs/TransformStamped of the transform parent→child (header.frame_id = parent)."""
    types = _types(typestore)
    x, y, z, w = _quaternion_xyzw(parent_from_child.R)
    tx, ty, tz = parent_from_child.t
    return types["geometry_msgs/msg/TransformStamped"](
        header=header_msg(parent, stamp_ns, typestore), child_frame_id=child,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=float(tx), y=float(ty), z=float(tz)),
            rotation=types["geometry_msgs/msg/Quaternion"](x=float(x), y=float(y), z=float(z), w=float(w))))


def tf_message(transforms: Sequence[Any], typestore: Typestore | None = None) -> Any:
    """tf2_msgs/TFMessage holding TransformStamped messages (for /tf and /tf_static)."""
    return _types(typestore)["tf2_msgs/msg/TFMessage"](transforms=list(transforms))


def odometry_msg(frame_id: str, child_frame_id: str, stamp_ns: int, parent_from_child: Pose,
                 linear_velocity: Sequence[float] = (0.0, 0.0, 0.0),
                 angular_velocity: Sequence[float] = (0.0, 0.0, 0.0),
                 pose_covariance: np.ndarray | None = None, twist_covariance: np.ndarray | None = None,
                 typestore: Typestore | None = None) -> Any:
    """nav_msgs/Odometry: the pose of `child_frame_id` (e.g. base_link) in `frame_id` (e.g. odom), and its twist.

    As in ROS, the twist (m/s, rad/s) is expressed in the child frame. Covariances are 6x6 row-major in ROS order;
    None writes zeros ("unknown").
    """
    types = _types(typestore)
    vec = types["geometry_msgs/msg/Vector3"]
    return types["nav_msgs/msg/Odometry"](
        header=header_msg(frame_id, stamp_ns, typestore), child_frame_id=child_frame_id,
        pose=types["geometry_msgs/msg/PoseWithCovariance"](
            pose=pose_msg(parent_from_child, typestore), covariance=_covariance(pose_covariance)),
        twist=types["geometry_msgs/msg/TwistWithCovariance"](
            twist=types["geometry_msgs/msg/Twist"](
                linear=vec(*(float(v) for v in linear_velocity)),
                angular=vec(*(float(v) for v in angular_velocity))),
            covariance=_covariance(twist_covariance)))


def pose_with_covariance_stamped_msg(frame_id: str, stamp_ns: int, parent_from_child: Pose,
                                     covariance: np.ndarray | None = None,
                                     typestore: Typestore | None = None) -> Any:
    """geometry_msgs/PoseWithCovarianceStamped: the pose of a child frame (e.g. a camera or base_link) in `frame_id`.

    `parent_from_child` is that pose (x_parent = R x_child + t); for a localized camera whose estimate is a
    `cam_from_world` pose, pass `cam_from_world.inverse()`. `covariance` is 6x6 row-major in ROS order (x, y, z,
    rot x, rot y, rot z) in `frame_id`; None writes zeros.
    """
    types = _types(typestore)
    return types["geometry_msgs/msg/PoseWithCovarianceStamped"](
        header=header_msg(frame_id, stamp_ns, typestore),
        pose=types["geometry_msgs/msg/PoseWithCovariance"](
            pose=pose_msg(parent_from_child, typestore), covariance=_covariance(covariance)))
