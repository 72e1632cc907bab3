"""Pinhole cameras with optional distortion, in COLMAP's model vocabulary.

Pixel convention used throughout the project: COLMAP's, i.e. the top-left corner of the
top-left pixel is (0, 0) and pixel centres sit at (x + 0.5, y + 0.5). OpenCV keypoints
(centres at integers) are shifted by +0.5 when they enter the project.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycolmap

# Number of parameters of each supported COLMAP camera model.
MODEL_NUM_PARAMS = {
    "SIMPLE_PINHOLE": 3,
    "PINHOLE": 4,
    "SIMPLE_RADIAL": 4,
    "RADIAL": 5,
    "OPENCV": 8,
    "FULL_OPENCV": 12,
    "OPENCV_FISHEYE": 8,
}


@dataclass(frozen=True)
class Camera:
    """Intrinsics of one image: a COLMAP model name, the image size and the model's parameters."""

    model: str
    width: int
    height: int
    params: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.model not in MODEL_NUM_PARAMS:
            raise ValueError(f"unsupported camera model {self.model!r}; use one of {sorted(MODEL_NUM_PARAMS)}")
        if len(self.params) != MODEL_NUM_PARAMS[self.model]:
            raise ValueError(
                f"camera model {self.model} takes {MODEL_NUM_PARAMS[self.model]} parameters, got {len(self.params)}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not np.all(np.isfinite(self.params)):
            raise ValueError(f"camera parameters must be finite, got {self.params}")
        object.__setattr__(self, "params", tuple(float(p) for p in self.params))

    @classmethod
    def pinhole(cls, K: np.ndarray, width: int, height: int) -> "Camera":
        """A distortion-free camera from a 3x3 calibration matrix."""
        return cls("PINHOLE", int(width), int(height), (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))

    @property
    def K(self) -> np.ndarray:
        """The 3x3 calibration matrix (distortion, if any, is not in it)."""
        p = self.params
        if self.model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
            fx = fy = p[0]
            cx, cy = p[1], p[2]
        else:
            fx, fy, cx, cy = p[:4]
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])

    def to_pycolmap(self) -> pycolmap.Camera:
        return pycolmap.Camera(model=self.model, width=self.width, height=self.height, params=list(self.params))

    @classmethod
    def from_pycolmap(cls, camera: pycolmap.Camera) -> "Camera":
        return cls(camera.model.name, int(camera.width), int(camera.height), tuple(camera.params))

    def to_dict(self) -> dict:
        return {"model": self.model, "width": self.width, "height": self.height, "params": list(self.params)}

    @classmethod
    def from_dict(cls, d: dict) -> "Camera":
        return cls(d["model"], int(d["width"]), int(d["height"]), tuple(d["params"]))
