"""Keyframe selection by motion: a map needs views that differ, not the 30 near-identical frames a stopped car
records each second. A frame is kept when the camera moved at least `min_distance_m` or turned at least
`min_angle_deg` since the last kept frame; the first frame is always kept."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..geometry import Pose, rotation_angle_deg



class KeyframeSelector:
    """Streaming selection: call `accept(cam_from_world)` for each frame in time order."""

    def __init__(self, min_distance_m: float, min_angle_deg: float) -> None:
        if min_distance_m < 0 or min_angle_deg < 0:
            raise ValueError(f"keyframe thresholds must be >= 0, got {min_distance_m} m and {min_angle_deg} deg")
        self.min_distance_m = min_distance_m
        self.min_angle_deg = min_angle_deg
        self._last: Pose | None = None

    def accept(self, cam_from_world: Pose) -> bool:
        """True (and the frame becomes the reference) when it moved or turned enough since the last kept one."""
        last = self._last
        keep = last is None or (
            float(np.linalg.norm(cam_from_world.center - last.center)) >= self.min_distance_m
            or rotation_angle_deg(cam_from_world, last) >= self.min_angle_deg)
        if keep:
            self._last = cam_from_world
        return keep


def select_keyframes(cams_from_world: Sequence[Pose], min_distance_m: float, min_angle_deg: float) -> list[int]:
    """Indices of the kept frames of a trajectory given in time order."""
    selector = KeyframeSelector(min_distance_m, min_angle_deg)
    return [i for i, pose in enumerate(cams_from_world) if selector.accept(pose)]
