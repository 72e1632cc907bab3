"""One camera frame through the navigation behaviour of the localizer node, without ROS: skip it (paused, waiting
for a trigger), predict the prior with odometry, restrict retrieval near a confident prior, localize, gate the fix
against the prior, and say what to publish with the frame's quality.

The node calls `process` on its worker thread and publishes the outcome; `lookup(target, source, stamp_ns)` is its
tf2 lookup (target_from_source as a `Pose`, LookupError when unavailable or not a valid transform).

Map reloads: each loaded map is a generation (`on_map_loaded`). A frame is processed with the generation of the
map it was begun with; if another map was loaded meanwhile its fix is STALE (counted, never published: it is a
pose in the previous map, and must not become the new map's prior either). The node re-checks with
`still_current` while publishing, under the lock that also guards its map swap.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..geometry import Camera, Pose
from ..localizer import LocalizationResult, Localizer
from .fix import Fix, Lookup, make_fix
from .localization_control import LocalizationControl
from .node_config import LocalizerNodeConfig
from .pose_prior import GateResult, PosePrior, initial_pose_prior
from .prior_tracker import PriorTracker, SearchRegion
from .stats import OK, WARN, Diagnostic

PUBLISHED, REJECTED, FAILED, SKIPPED, STALE = "published", "rejected", "failed", "skipped", "stale"


@dataclass
class FrameOutcome:
    stamp_ns: int
    status: str  # PUBLISHED, REJECTED (the gate), FAILED, SKIPPED (paused, waiting for a trigger) or STALE (see above)
    map_generation: int = 0  # of the map the frame was localized with
    reason: str | None = None  # why not published
    result: LocalizationResult | None = None
    fix: Fix | None = None  # set when PUBLISHED (and for REJECTED: the fix that was not published)
    prior: PosePrior | None = None  # the prior predicted for this frame
    region: SearchRegion | None = None  # where retrieval looked (None: the whole map)
    gate: GateResult | None = None
    prior_dropped: bool = False  # this frame was the max_failures-th in a row: the prior is gone
    notes: list[str] = field(default_factory=list)  # what degraded the frame (odometry missing, ...)
    image: np.ndarray | None = None  # the decoded image (None when skipped)

    def quality(self) -> Diagnostic:
        """The per-frame quality, for a diagnostic_msgs status stamped with the image."""
        r = self.result
        values = {"outcome": self.status, "reason": self.reason or "",
                  "inliers": str(r.num_inliers if r else 0), "matches": str(r.num_matches if r else 0),
                  "reference": (r.reference or "") if r else "",
                  "reference_score": _num(r.reference_score if r else None),
                  "retrieved": str(len(r.retrieved) if r else 0),
                  "candidates": "all" if r is None or r.num_candidates is None else str(r.num_candidates),
                  "prior": self.prior.source if self.prior else "none",
                  "prior_used": str(self.region is not None),
                  "prior_position_std_m": _num(self.prior.position_std_m() if self.prior else None),
                  "search_radius_m": _num(self.region.radius_m if self.region else None),
                  "gate_mahalanobis_sq": _num(self.gate.mahalanobis_sq if self.gate else None),
                  "gate_threshold": _num(self.gate.threshold if self.gate else None),
                  "prior_dropped": str(self.prior_dropped),
                  "position_std_m": _num(_position_std(self.fix)),
                  "pixel_noise_px": _num(r.pixel_noise_px if r else None),
                  "time_s": _num(r.timings.get("total") if r else None),
                  "notes": "; ".join(self.notes)}
        message = f"fix published ({values['inliers']} inliers)" if self.status == PUBLISHED else \
            f"{self.status}: {self.reason}"
        return Diagnostic(OK if self.status == PUBLISHED else WARN, message, values)


def _num(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4g}"


def _position_std(fix: Fix | None) -> float | None:
    if fix is None or fix.pose.covariance is None:
        return None
    return float(np.sqrt(max(np.linalg.eigvalsh(fix.pose.covariance[:3, :3]).max(), 0.0)))


class FrameProcessor:
    def __init__(self, settings: LocalizerNodeConfig, lookup: Lookup) -> None:
        self.settings = settings
        self._lookup = lookup
        self.control = LocalizationControl(settings.enable_continuous_localization)
        self.priors = PriorTracker(settings.prior)
        self._lock = threading.Lock()
        self.skipped = 0  # frames not localized (paused, waiting for a trigger)
        self.stale = 0  # frames localized with a map that was replaced meanwhile
        self._map_generation = 0

    @property
    def map_generation(self) -> int:
        with self._lock:
            return self._map_generation

    def on_map_loaded(self) -> None:
        """Another map is in service: frames begun before are stale, and the prior (in the old map) is gone."""
        with self._lock:
            self._map_generation += 1
            self.priors.reinitialize()

    def still_current(self, outcome: "FrameOutcome") -> bool:
        """Whether the outcome's map is still in service; if not, it becomes STALE (and is counted once)."""
        with self._lock:
            return self._check_current(outcome)

    def _check_current(self, outcome: "FrameOutcome") -> bool:
        if outcome.map_generation == self._map_generation:
            return True
        if outcome.status != STALE:
            self.stale += 1
            outcome.status, outcome.reason = STALE, "the map was reloaded while the frame was being localized"
        return False

    def state(self) -> dict[str, str]:
        """The navigation state, for /diagnostics."""
        with self._lock:
            skipped, stale = self.skipped, self.stale
        return {"paused": str(self.control.paused), "continuous_localization": str(self.control.continuous),
                "localization_requested": str(self.control.requested), "prior": str(self.priors.has_prior),
                "fixes_rejected_by_gate": str(self.priors.rejected), "priors_dropped": str(self.priors.dropped),
                "frames_skipped": str(skipped), "frames_stale": str(stale)}

    def process(self, localizer: Localizer, load_image: Callable[[], np.ndarray], camera: Camera, stamp_ns: int,
                camera_frame: str, map_frame: str, map_generation: int) -> FrameOutcome:
        """load_image: decodes the frame (not called for a skipped frame); map_generation: `map_generation` when
        `localizer` was taken."""
        if (reason := self.control.skip_reason()) is not None:
            with self._lock:
                self.skipped += 1
            return FrameOutcome(stamp_ns, SKIPPED, reason)
        frame = self.settings.base_frame or camera_frame
        outcome = FrameOutcome(stamp_ns, FAILED, map_generation, image=load_image())
        image = outcome.image
        odom = self._odometry(frame, stamp_ns, outcome.notes)
        outcome.prior = self.priors.predict(stamp_ns, odom) if self.settings.prior.enabled else None
        candidates = None
        if outcome.prior is not None:
            try:
                extrinsic = self._lookup(frame, camera_frame, stamp_ns) if frame != camera_frame else None
                outcome.region = self.priors.search_region(outcome.prior, extrinsic)
            except LookupError as e:
                outcome.notes.append(f"global retrieval: no camera extrinsic ({e})")
            if outcome.region is not None:
                candidates = localizer.references_near(outcome.region.center, outcome.region.radius_m,
                                                       outcome.region.axes)
        outcome.result = result = localizer.localize(image, camera, candidates)
        if not result.success:
            return self._not_published(outcome, FAILED, result.failure_reason or "localization failed")
        try:
            outcome.fix = make_fix(result.cam_from_world, result.covariance, stamp_ns, camera_frame, map_frame,
                                   self.settings, self._lookup)
        except LookupError as e:
            return self._not_published(outcome, FAILED, f"no camera extrinsic: {e}")
        outcome.gate = self.priors.judge(outcome.fix.pose.map_from_frame, outcome.fix.pose.covariance,
                                         outcome.prior)
        if outcome.gate is not None and not outcome.gate.accepted:
            return self._not_published(outcome, REJECTED, f"fix too far from the prior (squared Mahalanobis "
                                                          f"{outcome.gate.mahalanobis_sq:.1f} > "
                                                          f"{outcome.gate.threshold:.1f})")
        with self._lock:  # with on_map_loaded: a stale fix never becomes the new map's prior
            if not self._check_current(outcome):
                return outcome
            if outcome.fix.pose.covariance is not None:
                self.priors.set(PosePrior(outcome.fix.pose.map_from_frame, outcome.fix.pose.covariance, stamp_ns,
                                          "fix"), odom)
            self.control.on_published()
            outcome.status = PUBLISHED
        return outcome

    def set_initial_pose(self, map_from_frame: Pose, covariance: np.ndarray, stamp_ns: int, frame_id: str,
                         map_frame: str | None) -> str:
        """A prior from `initialpose`; ValueError (with what to do) when it cannot be used."""
        if not self.settings.prior.enabled or not self.settings.prior.use_initialpose:
            raise ValueError("prior.enabled and prior.use_initialpose must both be true")
        if not map_frame:
            raise ValueError("no map loaded yet (its frame is unknown); load a map first")
        if frame_id != map_frame:
            raise ValueError(f"it is in frame {frame_id!r}, priors must be in the map frame "
                             f"{map_frame!r} (in RViz, set the Fixed Frame to {map_frame!r})")
        prior = initial_pose_prior(map_from_frame, covariance, stamp_ns)
        notes: list[str] = []
        odom = self._odometry(self.settings.base_frame, stamp_ns, notes) if self.settings.base_frame else None
        self.priors.set(prior, odom)
        return (f"prior set from initialpose at ({map_from_frame.t[0]:.2f}, {map_from_frame.t[1]:.2f}, "
                f"{map_from_frame.t[2]:.2f}), position std {prior.position_std_m():.2f} m"
                + (f" ({'; '.join(notes)})" if notes else ""))

    def _odometry(self, frame: str, stamp_ns: int, notes: list[str]) -> Pose | None:
        if not self.settings.odom_frame:
            return None
        try:
            return self._lookup(self.settings.odom_frame, frame, stamp_ns)
        except LookupError as e:
            notes.append(f"no odometry {self.settings.odom_frame}->{frame}: {e}")
            return None

    def _not_published(self, outcome: FrameOutcome, status: str, reason: str) -> FrameOutcome:
        outcome.status, outcome.reason = status, reason
        if outcome.prior is not None:
            outcome.prior_dropped = self.priors.on_failure()
        return outcome
