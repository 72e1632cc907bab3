"""Intrinsics from sensor_msgs/CameraInfo or a ROS camera_calibration YAML file, as a project `Camera`.

ROS (like OpenCV) puts pixel centres at integer coordinates; COLMAP puts them at +0.5. The principal point read
from K or P is therefore shifted by +0.5, the inverse of what `bag_writer.camera_info_msg` writes.

Distortion models (ROS name → COLMAP model, coefficients in ROS/OpenCV order):
- plumb_bob (k1 k2 p1 p2 k3) → OPENCV, or FULL_OPENCV when k3 ≠ 0, or PINHOLE when all are zero;
- rational_polynomial (k1 k2 p1 p2 k3 k4 k5 k6) → FULL_OPENCV, or PINHOLE when all are zero;
- equidistant (k1 k2 k3 k4) → OPENCV_FISHEYE, even with zero coefficients (an equidistant lens is not a pinhole).
With `use_rectified`, the images are taken to be rectified and the camera is P's PINHOLE.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import yaml

from ..geometry import Camera

SUPPORTED_DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")


def _field(msg: Any, name: str) -> np.ndarray:
    """A matrix field of CameraInfo: lower case in ROS 2 (`k`), upper case in ROS 1 (`K`)."""
    value = getattr(msg, name) if hasattr(msg, name) else getattr(msg, name.upper())
    return np.asarray(value, dtype=np.float64).reshape(-1)


def camera_from_camera_info(msg: Any, use_rectified: bool = False) -> Camera:
    """The `Camera` of a CameraInfo message (ROS 2 or ROS 1, rosbags, rclpy or any object with its fields)."""
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0:
        raise ValueError(f"CameraInfo has image size {width}x{height}; the camera is not calibrated "
                         "(give the intrinsics in a YAML file instead)")
    _check_binning_and_roi(msg, width, height)
    if use_rectified:
        P = _field(msg, "p")
        if P.size != 12 or P[0] == 0 or P[5] == 0:
            raise ValueError(f"CameraInfo P = {P.tolist()} has no focal length; rectified intrinsics are unknown "
                             "(use the raw images, use_rectified=False)")
        return Camera("PINHOLE", width, height, (P[0], P[5], P[2] + 0.5, P[6] + 0.5))
    K = _field(msg, "k")
    if K.size != 9 or K[0] == 0 or K[4] == 0:
        raise ValueError(f"CameraInfo K = {K.tolist()} has no focal length (uncalibrated camera); "
                         "give the intrinsics in a YAML file (camera_calibration format) instead")
    pinhole = (K[0], K[4], K[2] + 0.5, K[5] + 0.5)
    return _with_distortion(str(msg.distortion_model), _field(msg, "d"),
                            width, height, pinhole)


def _check_binning_and_roi(msg: Any, width: int, height: int) -> None:
    binning = (int(getattr(msg, "binning_x", 0)), int(getattr(msg, "binning_y", 0)))
    if max(binning) > 1:
        raise ValueError(f"CameraInfo binning {binning} is not supported; publish full-resolution images")
    roi = getattr(msg, "roi", None)
    if roi is not None and int(roi.width) and int(roi.height) and \
            (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)) != (0, 0, width, height):
        raise ValueError(f"CameraInfo region of interest {roi.width}x{roi.height}+{roi.x_offset}+{roi.y_offset} "
                         "is not supported; publish full-resolution images")


def _with_distortion(model: str, D: np.ndarray, width: int, height: int,
                     pinhole: tuple[float, float, float, float]) -> Camera:
    if model == "equidistant":
        if D.size != 4:
            raise ValueError(f"equidistant distortion takes 4 coefficients (k1 k2 k3 k4), got {D.size}")
        return Camera("OPENCV_FISHEYE", width, height, (*pinhole, *D))
    if model not in SUPPORTED_DISTORTION_MODELS and not (model == "" and not np.any(D)):
        raise ValueError(f"unsupported CameraInfo distortion model {model!r}; supported: "
                         f"{', '.join(SUPPORTED_DISTORTION_MODELS)} (or rectified images with use_rectified)")
    if D.size > 8 and np.any(D[8:]):
        raise ValueError(f"{model} coefficients beyond k6 (thin prism / tilt: {D[8:].tolist()}) are not supported")
    coeffs = np.zeros(8)
    coeffs[: min(D.size, 8)] = D[:8]
    if not np.any(coeffs):
        return Camera("PINHOLE", width, height, pinhole)
    if model == "plumb_bob" and D.size > 5:
        raise ValueError(f"plumb_bob takes at most 5 coefficients (k1 k2 p1 p2 k3), got {D.size}")
    if not np.any(coeffs[4:]):
        return Camera("OPENCV", width, height, (*pinhole, *coeffs[:4]))
    return Camera("FULL_OPENCV", width, height, (*pinhole, *coeffs))


def _matrix(calib: dict, key: str, path: Path, size: int) -> list[float]:
    try:
        data = [float(v) for v in calib[key]["data"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: missing or malformed {key!r} (expected 'data: [...]' with numbers)") from e
    if size and len(data) != size:
        raise ValueError(f"{path}: {key} has {len(data)} values, expected {size}")
    return data


def camera_from_yaml(path: str | Path, use_rectified: bool = False) -> Camera:
    """The `Camera` of a ROS camera_calibration YAML file (the format camera_info_manager reads and writes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"intrinsics file {path} does not exist")
    calib = yaml.safe_load(path.read_text())
    required = ("image_width", "image_height", "camera_matrix")
    if not isinstance(calib, dict) or any(key not in calib for key in required):
        raise ValueError(f"{path} is not a ROS camera_calibration YAML file: it needs {', '.join(required)}, "
                         "distortion_model, distortion_coefficients (and projection_matrix for rectified images)")
    has_distortion = "distortion_coefficients" in calib
    msg = SimpleNamespace(
        width=int(calib["image_width"]), height=int(calib["image_height"]),
        k=_matrix(calib, "camera_matrix", path, 9),
        d=_matrix(calib, "distortion_coefficients", path, 0) if has_distortion else [],
        distortion_model=str(calib.get("distortion_model", "plumb_bob" if has_distortion else "")),
        p=_matrix(calib, "projection_matrix", path, 12) if "projection_matrix" in calib else [0.0] * 12)
    return camera_from_camera_info(msg, use_rectified=use_rectified)
