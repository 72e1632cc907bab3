"""Posed frames from a recorded bag: what a map is built from, and the images the offline tools localize.

Each image gets intrinsics (the CameraInfo nearest in time, or a calibration YAML) and, for mapping, the pose of
its camera in `map_frame`, either from the bag's TF tree (map_frame → … → camera optical frame) or from a pose
topic (PoseStamped, PoseWithCovarianceStamped or Odometry of a body frame) combined with a static body→camera
extrinsic. Images without a pose within the tolerance are skipped and counted. Frames load their image lazily
from the bag, so a long recording never sits in memory.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from scipy.spatial.transform import Rotation

from ..frames import Frame
from ..geometry import Camera, Pose
from .bag_reader import BagMessage, BagReader, TopicError, header_stamp_ns
from .camera_info import camera_from_camera_info, camera_from_yaml
from .images import image_from_msg, is_compressed
from .keyframes import KeyframeSelector
from .tf_buffer import TfBuffer, TransformChainError, TransformTimeError

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPES = ("sensor_msgs/msg/CameraInfo",)
POSE_TYPES = ("geometry_msgs/msg/PoseStamped", "geometry_msgs/msg/PoseWithCovarianceStamped",
              "nav_msgs/msg/Odometry")
TF_TOPIC, TF_STATIC_TOPIC = "/tf", "/tf_static"
_BODY = "__pose_topic_body__"  # the tracked frame inside the pose-topic buffer, named apart from any TF frame


@dataclass
class BagSourceConfig:
    """Which topics and frames of a bag give the posed images of a map, and which images to keep."""

    image_topic: str = "/camera/image_raw"  # sensor_msgs/Image or CompressedImage
    camera_info_topic: str | None = None  # None: `<image namespace>/camera_info` if the bag has it
    intrinsics_yaml: str | None = None  # ROS camera_calibration YAML, for bags without CameraInfo
    use_rectified: bool = False  # the images are rectified: intrinsics from CameraInfo P
    map_frame: str = "map"  # the world frame of the map
    camera_frame: str | None = None  # camera optical frame; None: the image header frame_id
    pose_topic: str | None = None  # None: poses from /tf and /tf_static
    body_frame: str | None = None  # frame the pose topic tracks; None: Odometry child_frame_id, else base_link
    body_from_camera: list[float] | None = None  # [x, y, z, qx, qy, qz, qw]; None: looked up in /tf_static
    tolerance_s: float = 0.05  # an image needs a pose sample this close in time (either side), else it is skipped
    keyframe_min_distance_m: float = 1.0
    keyframe_min_angle_deg: float = 10.0
    start_s: float | None = None  # time range, in seconds from the start of the bag
    end_s: float | None = None
    stride: int = 1  # use every n-th image (before keyframe selection)


@dataclass
class BagReadStats:
    """What happened to each image of the topic (seen = the sum of the four other counts)."""

    images_total: int = 0  # messages on the image topic in the whole bag
    images_seen: int = 0  # within the time range
    skipped_stride: int = 0
    skipped_no_pose: int = 0
    skipped_keyframe: int = 0
    kept: int = 0
    intrinsics_source: str | None = None  # the CameraInfo topic (or intrinsics YAML) actually used
    camera_frames: tuple[str, ...] = ()  # camera frames the poses were looked up for

    def summary(self) -> str:
        return (f"{self.images_seen} images read: {self.kept} kept, {self.skipped_no_pose} without a pose within "
                f"the tolerance, {self.skipped_keyframe} too close to the previous keyframe, "
                f"{self.skipped_stride} skipped by the stride")


def image_stamp_ns(message: BagMessage) -> int:
    """Capture time of an image message: its header stamp, or the recording time when the driver left it at 0."""
    stamp = header_stamp_ns(message.msg)
    return stamp if stamp > 0 else message.bag_stamp_ns


@dataclass(frozen=True)
class BagImageLoader:
    """A `Frame.load` that re-reads one image from the bag (found by recording time and capture stamp)."""

    bag_path: str
    topic: str
    bag_stamp_ns: int
    stamp_ns: int

    def __call__(self) -> np.ndarray:
        with BagReader(self.bag_path) as bag:
            for message in bag.messages([self.topic], self.bag_stamp_ns, self.bag_stamp_ns + 1):
                if image_stamp_ns(message) == self.stamp_ns:
                    return image_from_msg(message.msg)
        raise FileNotFoundError(f"image {self.topic} at {self.stamp_ns} ns is no longer in bag {self.bag_path}; "
                                "was the bag modified after the frames were read?")


class _Intrinsics:
    """The camera of each image: fixed (from a YAML file) or the CameraInfo nearest in time."""

    def __init__(self, stamps: list[int], cameras: list[Camera], source: str) -> None:
        self.stamps, self.cameras = stamps, cameras
        self.source = source  # the CameraInfo topic or YAML file they came from

    def at(self, stamp_ns: int) -> Camera:
        if len(self.cameras) == 1:
            return self.cameras[0]
        i = bisect.bisect_left(self.stamps, stamp_ns)
        candidates = [j for j in (i - 1, i) if 0 <= j < len(self.stamps)]
        return self.cameras[min(candidates, key=lambda j: abs(self.stamps[j] - stamp_ns))]


def _default_camera_info_topic(bag: BagReader, image_topic: str) -> str | None:
    """`<ns>/camera_info` for the image topic's namespace or a parent of it (e.g. /cam/image_raw/compressed)."""
    parts = image_topic.strip("/").split("/")
    for n in range(len(parts) - 1, -1, -1):
        candidate = "/" + "/".join(parts[:n] + ["camera_info"])
        if bag.has_topic(candidate):
            return candidate
    return None


def _load_intrinsics(bag: BagReader, image_topic: str, camera_info_topic: str | None, intrinsics_yaml: str | None,
                     use_rectified: bool) -> _Intrinsics:
    if intrinsics_yaml is not None:
        return _Intrinsics([0], [camera_from_yaml(intrinsics_yaml, use_rectified=use_rectified)], intrinsics_yaml)
    topic = camera_info_topic or _default_camera_info_topic(bag, image_topic)
    if topic is None:
        raise TopicError(f"no CameraInfo topic for {image_topic} in bag {bag.path}; give camera_info_topic or "
                         f"intrinsics_yaml. Topics found: {bag.describe_topics()}")
    bag.require_topic(topic, CAMERA_INFO_TYPES)
    stamps: list[int] = []
    cameras: list[Camera] = []
    for message in bag.messages([topic]):
        camera = camera_from_camera_info(message.msg, use_rectified=use_rectified)
        stamp = header_stamp_ns(message.msg) or message.bag_stamp_ns
        if cameras and camera == cameras[-1]:
            continue  # one entry per change of calibration keeps the table small
        stamps.append(stamp)
        cameras.append(camera)
    if not cameras:
        raise TopicError(f"CameraInfo topic {topic} of bag {bag.path} has no messages; give intrinsics_yaml")
    return _Intrinsics(stamps, cameras, topic)


def _pose_from_msg(pose: Any) -> Pose:
    """A geometry_msgs/Pose as the transform parent_from_child (its frame from the pose's child frame)."""
    return Pose.from_message_fields(pose.position, pose.orientation)


def _pose_from_vector(values: list[float]) -> Pose:
    if len(values) != 7:
        raise ValueError(f"body_from_camera must be [x, y, z, qx, qy, qz, qw], got {len(values)} values")
    x, y, z, qx, qy, qz, qw = (float(v) for v in values)
    if np.isclose(np.linalg.norm([qx, qy, qz, qw]), 0.0):
        raise ValueError("body_from_camera has a zero quaternion")
    return Pose(Rotation.from_quat([qx, qy, qz, qw]).as_matrix(), [x, y, z])


def _read_tf(bag: BagReader, static_only: bool = False) -> TfBuffer:
    topics = [t for t in ((TF_STATIC_TOPIC,) if static_only else (TF_TOPIC, TF_STATIC_TOPIC)) if bag.has_topic(t)]
    if not topics:
        wanted = TF_STATIC_TOPIC if static_only else f"{TF_TOPIC} or {TF_STATIC_TOPIC}"
        remedy = "give body_from_camera" if static_only else "give pose_topic (and the camera extrinsic)"
        raise TopicError(f"bag {bag.path} has no {wanted}; {remedy}. Topics found: {bag.describe_topics()}")
    return TfBuffer.from_messages((m.msg, m.topic == TF_STATIC_TOPIC) for m in bag.messages(topics))


class _TfPoses:
    """cam_from_world from the bag's TF tree: the transform camera_frame ← map_frame at the image stamp."""

    def __init__(self, bag: BagReader, config: BagSourceConfig) -> None:
        self.tf = _read_tf(bag)
        self.map_frame = config.map_frame
        self.tolerance_ns = int(config.tolerance_s * 1e9)

    def __call__(self, camera_frame: str, stamp_ns: int) -> Pose:
        return self.tf.lookup(camera_frame, self.map_frame, stamp_ns, self.tolerance_ns)


class _TopicPoses:
    """cam_from_world from a pose topic (the body in map_frame) and the static body_from_camera extrinsic."""

    def __init__(self, bag: BagReader, config: BagSourceConfig) -> None:
        assert config.pose_topic is not None
        msgtype = bag.require_topic(config.pose_topic, POSE_TYPES)
        self.map_frame = config.map_frame
        self.tolerance_ns = int(config.tolerance_s * 1e9)
        self.poses = TfBuffer()
        body_frame = config.body_frame
        count = 0
        for message in bag.messages([config.pose_topic]):
            count += 1
            msg = message.msg
            frame = msg.header.frame_id.lstrip("/")
            if frame and frame != config.map_frame:
                raise ValueError(f"pose topic {config.pose_topic} gives poses in frame {frame!r}, but map_frame is "
                                 f"{config.map_frame!r}; set map_frame to {frame!r}")
            if body_frame is None:
                body_frame = getattr(msg, "child_frame_id", "") or "base_link"
            pose = msg.pose if msgtype == "geometry_msgs/msg/PoseStamped" else msg.pose.pose
            self.poses.add_transform(config.map_frame, _BODY, _pose_from_msg(pose), header_stamp_ns(msg))
        if count == 0 or body_frame is None:
            raise TopicError(f"pose topic {config.pose_topic} of bag {bag.path} has no messages")
        self.body_frame = body_frame
        self.fixed_extrinsic = (_pose_from_vector(config.body_from_camera)
                                if config.body_from_camera is not None else None)
        self.static_tf = _read_tf(bag, static_only=True) if self.fixed_extrinsic is None else None
        self.extrinsics: dict[str, Pose] = {}

    def _body_from_camera(self, camera_frame: str) -> Pose:
        if self.fixed_extrinsic is not None:
            return self.fixed_extrinsic
        if camera_frame not in self.extrinsics:
            assert self.static_tf is not None
            try:
                self.extrinsics[camera_frame] = self.static_tf.lookup(self.body_frame, camera_frame, 0)
            except TransformChainError as e:
                raise TransformChainError(f"no static transform {self.body_frame} → {camera_frame} in /tf_static "
                                          f"({e}); give body_from_camera") from e
        return self.extrinsics[camera_frame]

    def __call__(self, camera_frame: str, stamp_ns: int) -> Pose:
        map_from_body = self.poses.lookup(self.map_frame, _BODY, stamp_ns, self.tolerance_ns)
        return (map_from_body * self._body_from_camera(camera_frame)).inverse()


def _time_range(bag: BagReader, start_s: float | None, end_s: float | None) -> tuple[int | None, int | None]:
    start = bag.start_ns + int(start_s * 1e9) if start_s is not None else None
    stop = bag.start_ns + int(end_s * 1e9) if end_s is not None else None
    if start is not None and stop is not None and stop <= start:
        raise ValueError(f"empty time range: start_s={start_s} and end_s={end_s}")
    return start, stop


def _check_size(message: BagMessage, camera: Camera) -> None:
    if not is_compressed(message.msg) and (int(message.msg.width), int(message.msg.height)) != \
            (camera.width, camera.height):
        raise ValueError(f"image {message.topic} is {message.msg.width}x{message.msg.height} but its intrinsics are "
                         f"for {camera.width}x{camera.height}; check camera_info_topic / intrinsics_yaml")


def frames_from_bag(bag_path: str | Path, config: BagSourceConfig,
                    on_image: Callable[[BagReadStats], None] | None = None) -> tuple[list[Frame], BagReadStats]:
    """The posed keyframes of a bag, in time order, and what happened to every image.

    Each Frame's `cam_from_world` maps map_frame points into the camera (optical) frame. `on_image` is called
    with the running statistics after each image (e.g. to drive a progress bar of `images_total` steps).
    """
    if config.stride < 1:
        raise ValueError(f"stride must be >= 1, got {config.stride}")
    stats = BagReadStats()
    frames: list[Frame] = []
    selector = KeyframeSelector(config.keyframe_min_distance_m, config.keyframe_min_angle_deg)
    topic = config.image_topic
    with BagReader(bag_path) as bag:
        bag.require_topic(topic, IMAGE_TYPES)
        stats.images_total = bag.reader.topics[topic].msgcount
        intrinsics = _load_intrinsics(bag, topic, config.camera_info_topic, config.intrinsics_yaml,
                                      config.use_rectified)
        stats.intrinsics_source = intrinsics.source
        poses = _TopicPoses(bag, config) if config.pose_topic else _TfPoses(bag, config)
        start, stop = _time_range(bag, config.start_s, config.end_s)
        names: set[str] = set()
        for message in bag.messages([topic], start, stop):
            stats.images_seen += 1
            if (stats.images_seen - 1) % config.stride:
                stats.skipped_stride += 1
            else:
                stamp = image_stamp_ns(message)
                try:
                    camera_frame = config.camera_frame or message.msg.header.frame_id
                    if camera_frame not in stats.camera_frames:
                        stats.camera_frames += (camera_frame,)
                    cam_from_world = poses(camera_frame, stamp)
                except TransformTimeError:
                    stats.skipped_no_pose += 1
                    cam_from_world = None
                if cam_from_world is not None and not selector.accept(cam_from_world):
                    stats.skipped_keyframe += 1
                elif cam_from_world is not None:
                    camera = intrinsics.at(stamp)
                    _check_size(message, camera)
                    name = f"{topic.strip('/')}/{stamp}"
                    name = name if name not in names else f"{name}-{stats.images_seen}"
                    names.add(name)
                    frames.append(Frame(name, camera, BagImageLoader(str(bag_path), topic, message.bag_stamp_ns,
                                                                     stamp), cam_from_world, stamp))
                    stats.kept += 1
            if on_image is not None:
                on_image(stats)
    return frames, stats


def iter_bag_images(bag_path: str | Path, image_topic: str, camera_info_topic: str | None = None,
                    intrinsics_yaml: str | None = None, use_rectified: bool = False,
                    start_s: float | None = None, end_s: float | None = None,
                    ) -> Iterator[tuple[int, np.ndarray, Camera, str]]:
    """(stamp_ns, image RGB uint8, Camera, frame_id) of every image of a topic, in time order (for localization)."""
    with BagReader(bag_path) as bag:
        bag.require_topic(image_topic, IMAGE_TYPES)
        intrinsics = _load_intrinsics(bag, image_topic, camera_info_topic, intrinsics_yaml, use_rectified)
        start, stop = _time_range(bag, start_s, end_s)
        for message in bag.messages([image_topic], start, stop):
            stamp = image_stamp_ns(message)
            camera = intrinsics.at(stamp)
            _check_size(message, camera)
            yield stamp, image_from_msg(message.msg), camera, message.msg.header.frame_id
