"""A `Frame`: one image with its intrinsics and, where known, its pose: what maps are built from
and what queries are. Images are loaded lazily so that a long bag never sits in memory at once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .geometry import Camera, Pose


@dataclass
class Frame:
    name: str  # unique within a map or a query set (e.g. "0003.jpg" or "camera/1418381798076035")
    camera: Camera
    load: Callable[[], np.ndarray]  # returns the image as RGB uint8, shape (H, W, 3)
    cam_from_world: Pose | None = None  # known for references and for ground-truthed queries
    stamp_ns: int | None = None  # capture time (ROS stamp) where there is one


def image_from_array(image: np.ndarray) -> Callable[[], np.ndarray]:
    """A `Frame.load` for an image already in memory."""
    return lambda: image
