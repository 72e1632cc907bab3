"""Oxford RobotCar → rosbag2, from the dataset's own folder layout (as read by ori-mrg/robotcar-dataset-sdk).

Inputs, as the SDK reads them:
- `<camera>/<timestamp>.png`: raw Bayer images (pattern GBRG for the stereo camera, RGGB for the mono cameras,
  per the SDK's image.py / LoadImage.m); mono cameras are 1024x1024, the stereo camera 1280x960.
- `<camera>.timestamps`: one line per image, "<UNIX microseconds> <chunk>".
- `gps/ins.csv`: header timestamp,ins_status,latitude,longitude,altitude,northing,easting,down,utm_zone,
  velocity_north,velocity_east,velocity_down,roll,pitch,yaw; the INS pose is build_se3_transform(northing, easting,
  down, roll, pitch, yaw) in a north-east-down frame, R = Rz(yaw) Ry(pitch) Rx(roll).
- `models/<model>.txt`: "fx fy cx cy" then the 4x4 G_camera_image (optical frame → camera frame, x forward);
  `models/<model>_distortion_lut.bin`: float64, all u then all v, mapping each undistorted pixel (row-major) to
  its position in the distorted image, 0-based pixel centres (the SDK's MATLAB code adds 1). The intrinsics
  describe the undistorted image.
- `extrinsics/<camera>.txt`, `extrinsics/ins.txt`: "x y z roll pitch yaw", the sensor's pose in the vehicle frame
  (the stereo camera: x forward, y right, z down), i.e. vehicle_from_sensor.

Output: Image (rgb8) + CameraInfo on `/<camera>/image_raw` (`image_rect` when undistorted) and
`/<camera>/camera_info`; /tf map→base_link and nav_msgs/Odometry on /ins/odometry at the INS rate; /tf_static
base_link→`<camera>_optical_frame`. ROS conventions (REP 103): `map` is east-north-up with its origin at the first
written vehicle position, `base_link` is the vehicle frame turned to x forward, y left, z up. CameraInfo K holds
the SDK intrinsics verbatim (ROS and the SDK both put pixel centres at integers).
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from ..geometry import Camera, Pose
from .bag_writer import (BagWriter, Storage, camera_info_msg, odometry_msg, tf_message,
                         transform_stamped_msg)
from .images import BAYER_PATTERNS, image_to_msg

log = logging.getLogger(__name__)

# Camera name (the SDK's image folder) → camera model file name.
CAMERA_MODELS = {
    "mono_rear": "mono_rear", "mono_left": "mono_left", "mono_right": "mono_right",
    "stereo_centre": "stereo_narrow_left", "stereo_left": "stereo_wide_left", "stereo_right": "stereo_wide_right",
}
INS_COLUMNS = ("timestamp", "northing", "easting", "down", "velocity_north", "velocity_east", "velocity_down",
               "roll", "pitch", "yaw")
# North-east-down world → east-north-up map, and the RobotCar vehicle frame (x fwd, y right, z down) → base_link.
ENU_FROM_NED = Pose(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]), np.zeros(3))
FLU_FROM_FRD = Pose(np.diag([1.0, -1.0, -1.0]), np.zeros(3))
INS_MARGIN_US = 1_000_000  # INS samples written beyond the first and last image, so every image can be posed


def default_bayer_pattern(camera: str) -> str:
    """The sensor's Bayer pattern, as the SDK decides it: GBRG for the stereo camera, RGGB for the mono ones."""
    return "gbrg" if camera.startswith("stereo") else "rggb"


def se3_from_xyzrpy(values: list[float]) -> Pose:
    """The SDK's build_se3_transform: translation (x, y, z) and R = Rz(yaw) Ry(pitch) Rx(roll)."""
    if len(values) != 6:
        raise ValueError(f"expected 6 values x y z roll pitch yaw, got {len(values)}")
    x, y, z, roll, pitch, yaw = values
    return Pose(Rotation.from_euler("xyz", [roll, pitch, yaw]).as_matrix(), [x, y, z])


def read_extrinsics(path: Path) -> Pose:
    """vehicle_from_sensor of an SDK extrinsics file ("x y z roll pitch yaw")."""
    if not path.is_file():
        raise FileNotFoundError(f"extrinsics file {path} does not exist (expected the SDK's extrinsics folder)")
    return se3_from_xyzrpy([float(v) for v in path.read_text().split()[:6]])


def _vehicle_from_camera(extrinsics_dir: Path, camera: str) -> Pose:
    """The camera's extrinsics; the stereo camera defines the vehicle frame, so its file may be absent."""
    if camera.startswith("stereo"):
        path = extrinsics_dir / "stereo.txt"
        return read_extrinsics(path) if path.is_file() else Pose.identity()
    return read_extrinsics(extrinsics_dir / f"{camera}.txt")


@dataclass
class CameraModel:
    """An SDK camera model: pinhole intrinsics of the undistorted image, optical→camera frame, undistortion LUT."""

    fx: float
    fy: float
    cx: float
    cy: float
    camera_from_optical: Pose  # the SDK's G_camera_image
    lut: np.ndarray | None  # (2, H*W): u and v in the distorted image of each undistorted pixel


def read_camera_model(models_dir: Path, camera: str, need_lut: bool) -> CameraModel:
    name = CAMERA_MODELS[camera]
    path = models_dir / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"camera model {path} does not exist (expected the SDK's models folder)")
    rows = [[float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()]
    if len(rows) < 5 or len(rows[0]) < 4 or any(len(r) != 4 for r in rows[1:5]):
        raise ValueError(f"{path}: expected a line 'fx fy cx cy' and 4 lines of the 4x4 G_camera_image")
    lut = None
    if need_lut:
        lut_path = models_dir / f"{name}_distortion_lut.bin"
        if not lut_path.is_file():
            raise FileNotFoundError(f"undistortion table {lut_path} does not exist; drop --undistort or add it")
        lut = np.fromfile(lut_path, dtype=np.float64).reshape(2, -1)
    fx, fy, cx, cy = rows[0][:4]
    return CameraModel(fx, fy, cx, cy, Pose.from_matrix(np.array(rows[1:5])), lut)


def undistort(image: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """The undistorted image: each pixel sampled bilinearly in `image` where the SDK's LUT points."""
    height, width = image.shape[:2]
    if lut.shape[1] != height * width:
        raise ValueError(f"the undistortion table is for {lut.shape[1]} pixels, the image has {width}x{height}")
    map_x = lut[0].reshape(height, width).astype(np.float32)
    map_y = lut[1].reshape(height, width).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def load_image(path: Path, bayer: str | None) -> np.ndarray:
    """An RGB image from a dataset PNG: demosaiced with `bayer` ("gbrg", ...) or, if None, read as colour."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f"cannot read image {path}")
    if raw.ndim == 3:
        return cv2.cvtColor(raw[:, :, :3], cv2.COLOR_BGR2RGB)
    if bayer is None:
        return cv2.cvtColor(raw, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(raw, BAYER_PATTERNS[f"bayer_{bayer}8"][0])


def read_timestamps(path: Path) -> list[int]:
    """Image timestamps (UNIX microseconds) of an SDK .timestamps file."""
    if not path.is_file():
        raise FileNotFoundError(f"timestamps file {path} does not exist")
    return [int(line.split()[0]) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class InsData:
    stamps_us: np.ndarray  # (N,) int64
    ned: np.ndarray  # (N, 3) northing, easting, down
    rpy: np.ndarray  # (N, 3) roll, pitch, yaw
    velocity_ned: np.ndarray  # (N, 3)


def read_ins(path: Path) -> InsData:
    if not path.is_file():
        raise FileNotFoundError(f"INS file {path} does not exist (expected gps/ins.csv of the dataset)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in INS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks the INS columns {missing}; expected the dataset's ins.csv header")
        rows = [[row[c] for c in INS_COLUMNS] for row in reader]
    if not rows:
        raise ValueError(f"{path} has no INS samples")
    stamps = np.array([int(r[0]) for r in rows], dtype=np.int64)
    values = np.array([[float(v) for v in r[1:]] for r in rows])
    order = np.argsort(stamps, kind="stable")
    return InsData(stamps[order], values[order, 0:3], values[order, 6:9], values[order, 3:6])


@dataclass
class Trajectory:
    """The vehicle's INS trajectory in ROS frames: map (ENU, origin at the first pose) ← base_link (FLU)."""

    stamps_us: np.ndarray
    map_from_base: list[Pose]
    velocity_base: list[np.ndarray]  # m/s in base_link, as nav_msgs/Odometry wants the twist
    origin_ned: np.ndarray  # UTM northing, easting, down of the map origin


def _trajectory(ins: InsData, vehicle_from_ins: Pose, start_us: int, end_us: int) -> Trajectory:
    """The INS samples within [start_us, end_us] as base_link poses in the local map frame."""
    window = (ins.stamps_us >= start_us) & (ins.stamps_us <= end_us)
    if not window.any():
        raise ValueError(f"the INS data has no sample from {start_us} to {end_us} us, around the images")
    ins_from_base = vehicle_from_ins.inverse() * FLU_FROM_FRD.inverse()
    ned_from_base = [se3_from_xyzrpy([*ned, *rpy]) * ins_from_base
                     for ned, rpy in zip(ins.ned[window], ins.rpy[window])]
    origin = ned_from_base[0].t.copy()
    map_from_ned = ENU_FROM_NED * Pose(np.eye(3), -origin)
    map_from_base = [map_from_ned * pose for pose in ned_from_base]
    velocity = [pose.R.T @ ENU_FROM_NED.R @ v for pose, v in zip(map_from_base, ins.velocity_ned[window])]
    return Trajectory(ins.stamps_us[window], map_from_base, velocity, origin)


@dataclass
class ConversionSummary:
    images_written: int
    images_missing: int  # listed in the timestamps file, but without a PNG (chunk not downloaded)
    ins_samples_written: int
    map_origin_ned: np.ndarray  # UTM northing, easting, down of the map origin
    camera: Camera


def convert_robotcar(images_dir: str | Path, timestamps_path: str | Path, ins_path: str | Path,
                     models_dir: str | Path, extrinsics_dir: str | Path, out: str | Path,
                     camera: str = "mono_rear", storage: Storage = "sqlite3", undistort_images: bool = False,
                     bayer: str | None = "auto",
                     progress: Callable[[int, int], None] | None = None) -> ConversionSummary:
    """Write a rosbag2 of one RobotCar camera with its intrinsics and the INS trajectory (see the module doc).

    `bayer`: "auto" (the SDK's choice for the camera), a pattern ("rggb", "gbrg", "bggr", "grbg") or None for
    images that are already in colour. `progress(done, total)` is called after each image.
    """
    if camera not in CAMERA_MODELS:
        raise ValueError(f"unknown RobotCar camera {camera!r}; use one of {', '.join(CAMERA_MODELS)}")
    pattern = default_bayer_pattern(camera) if bayer == "auto" else bayer
    if pattern is not None and f"bayer_{pattern}8" not in BAYER_PATTERNS:
        raise ValueError(f"unknown Bayer pattern {pattern!r}; use rggb, gbrg, bggr or grbg")
    if Path(out).exists():
        raise ValueError(f"{out} exists already; remove it or choose another output path")
    images_dir, extrinsics_dir = Path(images_dir), Path(extrinsics_dir)
    model = read_camera_model(Path(models_dir), camera, need_lut=undistort_images)
    stamps_all = read_timestamps(Path(timestamps_path))
    stamps = [t for t in stamps_all if (images_dir / f"{t}.png").is_file()]
    if not stamps:
        raise FileNotFoundError(f"none of the {len(stamps_all)} images of {timestamps_path} is in {images_dir} "
                                "(expected <timestamp>.png files)")
    trajectory = _trajectory(read_ins(Path(ins_path)), read_extrinsics(extrinsics_dir / "ins.txt"),
                             stamps[0] - INS_MARGIN_US, stamps[-1] + INS_MARGIN_US)
    base_from_optical = FLU_FROM_FRD * _vehicle_from_camera(extrinsics_dir, camera) * model.camera_from_optical

    first = cv2.imread(str(images_dir / f"{stamps[0]}.png"), cv2.IMREAD_UNCHANGED)
    height, width = first.shape[:2]
    # The SDK (like ROS) puts pixel centres at integers, COLMAP at +0.5; CameraInfo K gets the SDK values back.
    cam = Camera("PINHOLE", width, height, (model.fx, model.fy, model.cx + 0.5, model.cy + 0.5))
    if not undistort_images:
        log.warning("images are written distorted; the CameraInfo holds the SDK's pinhole intrinsics, which "
                    "describe the undistorted image: use --undistort for mapping and localization")
    frame_id = f"{camera}_optical_frame"
    image_topic = f"/{camera}/{'image_rect' if undistort_images else 'image_raw'}"
    events = sorted([(int(t) * 1000, 0, i) for i, t in enumerate(trajectory.stamps_us)] +
                    [(t * 1000, 1, i) for i, t in enumerate(stamps)])
    with BagWriter(out, storage=storage) as bag:
        bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", latched=True)
        bag.write("/tf_static", tf_message([transform_stamped_msg("base_link", frame_id, base_from_optical,
                                                                  events[0][0])]), events[0][0])
        for stamp_ns, kind, i in events:
            if kind == 0:
                map_from_base = trajectory.map_from_base[i]
                bag.write("/tf", tf_message([transform_stamped_msg("map", "base_link", map_from_base, stamp_ns)]),
                          stamp_ns)
                bag.write("/ins/odometry", odometry_msg("map", "base_link", stamp_ns, map_from_base,
                                                        linear_velocity=trajectory.velocity_base[i]), stamp_ns)
                continue
            image = load_image(images_dir / f"{stamps[i]}.png", pattern)
            if model.lut is not None:
                image = undistort(image, model.lut)
            bag.write(image_topic, image_to_msg(image, stamp_ns, frame_id, "rgb8", bag.typestore), stamp_ns)
            bag.write(f"/{camera}/camera_info", camera_info_msg(cam, stamp_ns, frame_id, bag.typestore), stamp_ns)
            if progress is not None:
                progress(i + 1, len(stamps))
    return ConversionSummary(len(stamps), len(stamps_all) - len(stamps), len(trajectory.stamps_us),
                             trajectory.origin_ned, cam)
