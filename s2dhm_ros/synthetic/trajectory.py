"""Vehicle motion along the synthetic road, the camera mounting, odometry drift, and TUM ground-truth files.

Frames follow REP-103/105: base_link is x forward, y left, z up, on the ground below the rear axle; the camera
optical frame is x right, y down, z forward. Every pose is a `Pose` named `parent_from_child`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial.transform import Rotation

from ..geometry import Pose
from .scene import Road

# base_link_from_optical for a camera looking along base_link's +x: optical x = -y, optical y = -z, optical z = +x.
_OPTICAL_IN_BASE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
NS = 1_000_000_000


def camera_mount(rear: bool = False, height: float = 1.5, pitch_deg: float = 3.0) -> Pose:
    """base_link_from_camera_optical of a car camera `height` m above the ground, tilted `pitch_deg` down.

    Forward: on the windscreen, 1.8 m ahead of base_link. Rear: above the rear bumper, 0.9 m behind it, looking
    backwards (like RobotCar's mono_rear)."""
    pitch = Rotation.from_euler("y", pitch_deg, degrees=True).as_matrix()  # +y pitch tips the x axis down
    if rear:
        yaw = Rotation.from_euler("z", 180.0, degrees=True).as_matrix()
        return Pose(yaw @ pitch @ _OPTICAL_IN_BASE, [-0.9, 0.0, height])
    return Pose(pitch @ _OPTICAL_IN_BASE, [1.8, 0.0, height])


def _yaw_pose(x: float, y: float, yaw: float) -> Pose:
    return Pose(Rotation.from_euler("z", yaw).as_matrix(), [x, y, 0.0])


@dataclass(frozen=True)
class Drive:
    """A vehicle driving along the road at constant speed (along the centreline's arc length).

    Its base_link is `lateral` m left of the centreline (negative: right lane), plus a slow weave of amplitude
    `weave` m (period 35 m), and its heading is the road's plus a wobble of `yaw_wobble_deg` (period 23 m)."""

    road: Road
    start_s: float  # arc length (m) along the centreline at t0
    speed: float  # m/s
    t0_ns: int
    lateral: float = -1.75
    weave: float = 0.0
    yaw_wobble_deg: float = 0.0

    def arc_length(self, stamp_ns: int) -> float:
        return self.start_s + self.speed * (int(stamp_ns) - self.t0_ns) / NS

    def map_from_base(self, stamp_ns: int) -> Pose:
        s = self.arc_length(stamp_ns)
        x = x_at_arc_length(self.road, s)
        lateral = self.lateral + self.weave * np.sin(2 * np.pi * s / 35.0)
        px, py = self.road.offset(np.array([x]), lateral)[0]
        yaw = float(self.road.heading(np.array([x]))[0]) + np.radians(self.yaw_wobble_deg) * np.sin(
            2 * np.pi * s / 23.0 + 1.0)
        return _yaw_pose(px, py, yaw)

    def velocity(self, stamp_ns: int, dt_ns: int = 10_000_000) -> tuple[np.ndarray, np.ndarray]:
        """Linear (m/s) and angular (rad/s) velocity of base_link in its own frame (central differences)."""
        a, b = self.map_from_base(stamp_ns - dt_ns), self.map_from_base(stamp_ns + dt_ns)
        mid = self.map_from_base(stamp_ns)
        dt = 2 * dt_ns / NS
        linear = mid.R.T @ (b.t - a.t) / dt
        angular = mid.R.T @ Rotation.from_matrix(b.R @ a.R.T).as_rotvec() / dt
        return linear, angular


def x_at_arc_length(road: Road, s: float) -> float:
    """The x of the centreline point at arc length `s` from x = 0 (dense table, 1 cm steps, linear inverse)."""
    table = _arc_table(road.amplitude, road.period, road.phase, road.length)
    return float(np.interp(s, table[1], table[0]))


@lru_cache(maxsize=8)
def _arc_table(amplitude: float, period: float, phase: float, length: float) -> np.ndarray:
    """Rows x and arc length s(x) of the centreline, s(0) = 0."""
    road = Road(length=length, amplitude=amplitude, period=period, phase=phase)
    x = np.arange(-40.0, length + 40.0, 0.01)
    cum = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(road.centre(x), axis=0), axis=1))]
    return np.stack([x, cum - np.interp(0.0, x, cum)])


def map_from_odom(stamp_ns: int, t0_ns: int) -> Pose:
    """The odometry frame's drift: a 2 m / -1 m / 3 degree offset at t0 that grows by 1 cm/s, 0.5 cm/s and
    0.05 degree/s, so map→odom is non-trivial and slowly varying, as with a real odometry source."""
    tau = (int(stamp_ns) - t0_ns) / NS
    return _yaw_pose(2.0 + 0.01 * tau, -1.0 + 0.005 * tau, np.radians(3.0 + 0.05 * tau))
