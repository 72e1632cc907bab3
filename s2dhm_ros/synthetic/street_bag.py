"""Two rosbag2 recordings of the synthetic street: a day traversal to build a map from and a night traversal
(another lane, a weaving path, simulated night) to localize, each with an exact ground-truth trajectory.

Layout written under `out_dir`:
    day/, night/                    rosbag2 bags (sqlite3 or mcap)
    groundtruth_day.txt, groundtruth_night.txt
                                    TUM files: `stamp tx ty tz qx qy qz qw` of the camera optical frame in map
                                    at every image stamp

Each bag holds:
    /camera/image_raw   sensor_msgs/Image, rgb8, frame camera_optical, 10 Hz
    /camera/camera_info sensor_msgs/CameraInfo (plumb_bob, zero distortion), with every image
    /tf                 tf2_msgs/TFMessage: map→odom and odom→base_link, 20 Hz (every image stamp is a TF stamp,
                        and one TF stamp precedes the first image and follows the last)
    /tf_static          base_link→camera_optical (transient-local QoS), once at the start
    /odom               nav_msgs/Odometry of base_link in odom, 20 Hz
The odom frame drifts slowly from map (see `trajectory.map_from_odom`), so only the full chain
map→odom→base_link→camera_optical gives the true camera pose.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..geometry import Camera, Pose
from ..io.bag_writer import (BagWriter, Storage, camera_info_msg, odometry_msg, tf_message,
                             transform_stamped_msg)
from ..io.images import image_to_msg
from .appearance import simulate_night
from .render import pixel_rays, render
from .scene import StreetScene, make_street_scene
from ..io.tum import write_tum
from .trajectory import NS, Drive, camera_mount, map_from_odom

DAY_T0_NS = 1_700_000_000 * NS  # 2023-11-14 22:13:20 UTC
NIGHT_DELAY_NS = 12 * 3600 * NS  # the night traversal starts 12 h later
CAMERA_RATE_HZ = 10.0
TF_PER_IMAGE = 2  # /tf and /odom run at 20 Hz
DAY_SPEED = 10.0  # m/s: consecutive day images 1 m apart
START_S = 10.0  # arc length (m) where the day traversal of a forward camera starts
NIGHT_LATERAL_OFFSET = 1.5  # m: the night car drives this much further left (weaving +-0.25 m)
NIGHT_WEAVE = 0.25
NIGHT_YAW_WOBBLE_DEG = 2.0
LOOK_AHEAD = 60.0  # m of street built beyond the end of the traversal


@dataclass(frozen=True)
class FrameIds:
    map: str = "map"
    odom: str = "odom"
    base_link: str = "base_link"
    camera: str = "camera_optical"


@dataclass(frozen=True)
class Topics:
    image: str = "/camera/image_raw"
    camera_info: str = "/camera/camera_info"
    tf: str = "/tf"
    tf_static: str = "/tf_static"
    odom: str = "/odom"


@dataclass(frozen=True)
class Traversal:
    """One recorded drive: its bag, its ground-truth file, and per image the stamp and the true pose."""

    bag: Path
    groundtruth: Path
    stamps_ns: tuple[int, ...]
    cam_from_world: tuple[Pose, ...]  # world = the map frame


@dataclass(frozen=True)
class StreetDataset:
    root: Path
    storage: str
    camera: Camera
    frames: FrameIds
    topics: Topics
    base_from_camera: Pose  # base_link_from_camera_optical (the /tf_static transform)
    day: Traversal
    night: Traversal


def street_camera(width: int, height: int) -> Camera:
    """A distortion-free camera with a 64 degree horizontal field of view (f = 0.78 width), centred."""
    f = 0.78 * width
    return Camera("PINHOLE", width, height, (f, f, width / 2, height / 2))


def _record(path: Path, storage: Storage, scene: StreetScene, camera: Camera, mount: Pose, drive: Drive,
            num_images: int, frames: FrameIds, topics: Topics,
            appearance: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None,
            progress: Callable[[int], None] | None) -> tuple[list[int], list[Pose]]:
    """Render the drive and write its bag; returns the image stamps and the map_from_camera poses."""
    rays = pixel_rays(camera)
    tf_period = int(round(NS / CAMERA_RATE_HZ / TF_PER_IMAGE))
    stamps, poses = [], []
    with BagWriter(path, storage) as bag:
        ts = bag.typestore
        bag.add_topic(topics.tf_static, "tf2_msgs/msg/TFMessage", latched=True)
        bag.write(topics.tf_static, tf_message(
            [transform_stamped_msg(frames.base_link, frames.camera, mount, drive.t0_ns - tf_period, ts)], ts),
            drive.t0_ns - tf_period)
        for tick in range(-1, TF_PER_IMAGE * (num_images - 1) + 2):
            stamp = drive.t0_ns + tick * tf_period
            map_from_base = drive.map_from_base(stamp)
            odom = map_from_odom(stamp, drive.t0_ns)
            odom_from_base = odom.inverse() * map_from_base
            bag.write(topics.tf, tf_message([
                transform_stamped_msg(frames.map, frames.odom, odom, stamp, ts),
                transform_stamped_msg(frames.odom, frames.base_link, odom_from_base, stamp, ts)], ts), stamp)
            linear, angular = drive.velocity(stamp)
            bag.write(topics.odom, odometry_msg(frames.odom, frames.base_link, stamp, odom_from_base, linear, angular,
                                                typestore=ts), stamp)
            if tick < 0 or tick % TF_PER_IMAGE or tick // TF_PER_IMAGE >= num_images:
                continue
            map_from_camera = map_from_base * mount
            rendering = render(scene, camera, map_from_camera.inverse(), rays)
            image = rendering.image
            if appearance is not None:
                image = appearance(tick // TF_PER_IMAGE, image, rendering.depth)
            bag.write(topics.image, image_to_msg(image, stamp, frames.camera, "rgb8", ts), stamp)
            bag.write(topics.camera_info, camera_info_msg(camera, stamp, frames.camera, ts), stamp)
            stamps.append(stamp)
            poses.append(map_from_camera)
            if progress is not None:
                progress(1)
    return stamps, poses


def make_street_bags(out_dir: str | Path, storage: Storage = "sqlite3", num_frames: int = 120,
                     num_night_frames: int | None = None, image_size: tuple[int, int] = (640, 480), seed: int = 0,
                     rear_camera: bool = False, night_strength: float = 1.0, photo_dir: Path | None = None,
                     progress: Callable[[int], None] | None = None) -> StreetDataset:
    """Write the day and night bags of the synthetic street (see the module docstring for their contents).

    - Day: `num_frames` images 1 m apart (10 m/s, 10 Hz) in the right lane (1.75 m right of the centreline).
    - Night: `num_night_frames` (default num_frames // 2) images spread over the same stretch (from 1 m after the
      day's first image to 1 m before its last), NIGHT_LATERAL_OFFSET = 1.5 m further left with a +-0.25 m weave
      (period 35 m) and the heading wobbling by +-2 degrees (period 23 m); rendered with `simulate_night`
      (`night_strength`, headlights for a forward camera) with a per-image generator seeded by (seed, index).
    - `image_size` is (width, height); `rear_camera` mounts the camera looking backwards instead.
    - `photo_dir`: optional real photographs for some facades (see `make_street_scene`); procedural otherwise.
    - `progress` is called with 1 after each rendered image (num_frames + num_night_frames calls).
    Deterministic given the arguments. Each bag is written atomically; an existing day/ or night/ is an error.
    """
    out = Path(out_dir)
    if num_frames < 2:
        raise ValueError(f"need at least 2 day frames, got {num_frames}")
    num_night = num_frames // 2 if num_night_frames is None else int(num_night_frames)
    if num_night < 2:
        raise ValueError(f"need at least 2 night frames, got {num_night}")
    for name in ("day", "night"):
        if (out / name).exists():
            raise FileExistsError(f"{out / name} exists already; remove it or choose another output directory")
    width, height = image_size
    camera = street_camera(width, height)
    frames, topics = FrameIds(), Topics()
    mount = camera_mount(rear=rear_camera)
    day_length = (num_frames - 1) * DAY_SPEED / CAMERA_RATE_HZ
    # Build LOOK_AHEAD metres of street in the camera's viewing direction beyond the traversal.
    start_s = LOOK_AHEAD if rear_camera else START_S
    end_margin = START_S if rear_camera else LOOK_AHEAD
    scene = make_street_scene(length=start_s + day_length + end_margin, seed=seed, photo_dir=photo_dir)
    day = Drive(scene.road, start_s, DAY_SPEED, DAY_T0_NS)
    night_span = day_length - 2.0
    night = Drive(scene.road, start_s + 1.0, night_span / (num_night - 1) * CAMERA_RATE_HZ,
                  DAY_T0_NS + NIGHT_DELAY_NS, lateral=day.lateral + NIGHT_LATERAL_OFFSET, weave=NIGHT_WEAVE,
                  yaw_wobble_deg=NIGHT_YAW_WOBBLE_DEG)

    def night_look(index: int, image: np.ndarray, depth: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([seed, 1, index])
        return simulate_night(image, rng, night_strength, headlight=not rear_camera, depth=depth)

    traversals = {}
    for name, drive, n, look in (("day", day, num_frames, None), ("night", night, num_night, night_look)):
        stamps, poses = _record(out / name, storage, scene, camera, mount, drive, n, frames, topics, look, progress)
        gt = out / f"groundtruth_{name}.txt"
        write_tum(gt, stamps, poses)
        traversals[name] = Traversal(out / name, gt, tuple(stamps), tuple(p.inverse() for p in poses))
    return StreetDataset(out, storage, camera, frames, topics, mount, traversals["day"], traversals["night"])
