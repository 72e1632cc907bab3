"""The prior the localizer keeps between frames: set by a published fix or `initialpose`, moved to each new image
by odometry (odom->base at the two stamps), dropped after repeated failures or rejections (then retrieval is
global again, as AMCL's global localization), on `reinitialize_global_localization`, or when too old.

Thread-safe: `initialpose` and the services arrive on executor threads, frames on the worker thread.
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

import numpy as np

from ..geometry import Pose
from .node_config import PriorConfig
from .pose_prior import GateResult, PosePrior, gate, predict

GATES = ("position", "pose", "off")


@dataclass(frozen=True)
class SearchRegion:
    """Where retrieval looks when the prior is confident: references with a camera centre within `radius_m` of
    `center` (map frame) over `axes` (the prior's known position axes)."""

    center: np.ndarray  # (3,)
    radius_m: float
    axes: tuple[int, ...]


@dataclass
class _Anchor:
    prior: PosePrior  # at its own stamp
    odom_from_frame: Pose | None  # odometry at the prior's stamp (None: unknown, the prior is not moved)


class PriorTracker:
    def __init__(self, config: PriorConfig) -> None:
        if config.gate not in GATES:
            raise ValueError(f"prior.gate must be one of {GATES}, got {config.gate!r}")
        if not 0.0 < config.gate_probability < 1.0:
            raise ValueError(f"prior.gate_probability must be in (0, 1), got {config.gate_probability}")
        if config.max_failures < 1:
            raise ValueError(f"prior.max_failures must be >= 1, got {config.max_failures}")
        self.config = config
        self._lock = threading.Lock()
        self._anchor: _Anchor | None = None
        self._failures = 0
        self.dropped = 0  # priors dropped after max_failures
        self.rejected = 0  # fixes not published because the gate rejected them

    @property
    def has_prior(self) -> bool:
        with self._lock:
            return self._anchor is not None

    def set(self, prior: PosePrior, odom_from_frame: Pose | None) -> None:
        """A new prior (a published fix, or initialpose) with the odometry at its stamp."""
        if not self.config.enabled:
            return
        with self._lock:
            self._anchor = _Anchor(prior, odom_from_frame)
            self._failures = 0

    def reinitialize(self) -> None:
        """Forget the prior: the next frames are localized against the whole map."""
        with self._lock:
            self._anchor = None
            self._failures = 0

    def predict(self, stamp_ns: int, odom_from_frame: Pose | None) -> PosePrior | None:
        """The prior at `stamp_ns`, moved by odometry since its stamp; as is when the prior came without odometry;
        None without a prior, when it is older than max_age_s, or when odometry is missing now but was known then."""
        with self._lock:
            anchor = self._anchor
            if anchor is None:
                return None
            age_s = (stamp_ns - anchor.prior.stamp_ns) / 1e9
            if self.config.max_age_s > 0 and age_s > self.config.max_age_s:
                self._anchor = None
                return None
        if anchor.odom_from_frame is None:  # no odometry at the prior's stamp (or no odom frame): not moved
            return anchor.prior
        if odom_from_frame is None:  # odometry lost since: where the robot went is unknown
            return None
        motion = anchor.odom_from_frame.inverse() * odom_from_frame
        moved = predict(anchor.prior, motion, self.config.odometry_translation_noise,
                        self.config.odometry_rotation_noise)
        return dataclasses.replace(moved, stamp_ns=stamp_ns)

    def search_region(self, prior: PosePrior | None, frame_from_camera: Pose | None) -> SearchRegion | None:
        """The region to retrieve from when `prior` is confident, else None (global retrieval).
        frame_from_camera: the camera extrinsic in the published frame (None: the published frame is the camera)."""
        if prior is None:
            return None
        std = prior.position_std_m()
        if std > self.config.max_position_std_m:
            return None
        camera = prior.map_from_frame * (frame_from_camera or Pose.identity())
        axes = tuple(a for a in prior.known_axes if a < 3)
        return SearchRegion(camera.t, self.config.search_radius_m + 3.0 * std, axes)

    def judge(self, fix: Pose, fix_covariance: np.ndarray | None, prior: PosePrior | None) -> GateResult | None:
        """The gate's verdict on a fix (None when there is no prior or the gate is off); counts a rejection."""
        if prior is None or self.config.gate == "off":
            return None
        result = gate(fix, fix_covariance, prior, self.config.gate, self.config.gate_probability)
        if not result.accepted:
            with self._lock:
                self.rejected += 1
        return result

    def on_failure(self) -> bool:
        """A frame with a prior gave no published fix; True when this drops the prior (max_failures in a row)."""
        with self._lock:
            if self._anchor is None:
                return False
            self._failures += 1
            if self._failures < self.config.max_failures:
                return False
            self._anchor = None
            self._failures = 0
            self.dropped += 1
            return True
