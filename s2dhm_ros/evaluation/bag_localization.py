"""Offline localization of a recorded bag: every image (or every n-th) against a map, compared with ground truth
where the bag or a TUM file has it, and written out as a rosbag2 of poses, a TUM trajectory and a results JSON.

Without ROS: this is what `s2dhm localize-bag` runs, and what the tests call. What it records is what the localizer
node publishes, computed by the same code (`runtime.fix.make_fix`) with the same settings (`LocalizerNodeConfig`):
the pose of `base_frame` (default here: the camera optical frame, the images' header frame) in the map frame with
the covariance of `runtime.pose_output` (ROS order, map axes), and TF map→odom from the bag's own odom→base_frame
at the image stamp (REP-105), or map→base_frame without an odom frame. Errors against ground truth and the TUM
trajectory are always those of the camera.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..geometry import Pose, pose_error
from ..io.bag_reader import BagReader
from ..io.bag_source import IMAGE_TYPES, TF_STATIC_TOPIC, TF_TOPIC, iter_bag_images
from ..io.bag_writer import (BagWriter, Storage, pose_with_covariance_stamped_msg, tf_message,
                             transform_stamped_msg)
from ..io.tf_buffer import TfBuffer, TransformError
from ..localizer import Localizer
from ..runtime.fix import Fix, Lookup, make_fix
from ..runtime.node_config import LocalizerNodeConfig
from ..runtime.pose_output import published_pose
from ..runtime.pose_prior import nees
from ..io.atomic import write_text_atomic
from .metrics import THRESHOLDS, finite_or_none, median_errors, recall_at_thresholds
from .report import write_bag_report
from ..io.tum import read_tum, write_tum

POSE_TOPIC = "/s2dhm/pose"
_GROUNDTRUTH_FRAME = "__groundtruth__"  # the tracked frame of a TUM ground truth, named apart from any TF frame


class GroundTruth(Protocol):
    """map_from_camera of an image (its camera frame and stamp), or None where unknown."""

    description: str

    def __call__(self, camera_frame: str, stamp_ns: int) -> Pose | None: ...


@dataclass
class _TfGroundTruth:
    """Ground truth looked up in a TF tree: map_frame → camera frame (interpolated, within `tolerance_ns`)."""

    tf: TfBuffer
    map_frame: str
    description: str
    tolerance_ns: int
    fixed_frame: str | None = None  # look up this frame instead of the image's (a TUM trajectory's)

    def __call__(self, camera_frame: str, stamp_ns: int) -> Pose | None:
        try:
            return self.tf.lookup(self.map_frame, self.fixed_frame or camera_frame, stamp_ns, self.tolerance_ns)
        except TransformError:
            return None


def groundtruth_from_tum(path: str | Path, map_frame: str = "map", tolerance_s: float = 0.05) -> GroundTruth:
    """Ground truth from a TUM file of the camera optical frame in the map (interpolated between its stamps)."""
    stamps, poses = read_tum(Path(path))
    if not stamps:
        raise ValueError(f"ground-truth file {path} holds no pose")
    tf = TfBuffer()
    for stamp, map_from_camera in zip(stamps, poses):
        tf.add_transform(map_frame, _GROUNDTRUTH_FRAME, map_from_camera, stamp)
    return _TfGroundTruth(tf, map_frame, f"TUM file {path}", int(tolerance_s * 1e9), _GROUNDTRUTH_FRAME)


def bag_tf(bag_path: str | Path) -> TfBuffer | None:
    """The bag's /tf and /tf_static as one buffer; None when the bag has no /tf."""
    with BagReader(bag_path) as bag:
        topics = [t for t in (TF_TOPIC, TF_STATIC_TOPIC) if bag.has_topic(t)]
        if TF_TOPIC not in topics:
            return None
        return TfBuffer.from_messages((m.msg, m.topic == TF_STATIC_TOPIC) for m in bag.messages(topics))


def groundtruth_from_bag(bag_path: str | Path, map_frame: str, tolerance_s: float = 0.05,
                         tf: TfBuffer | None = None) -> GroundTruth | None:
    """Ground truth from the bag's own /tf and /tf_static (the chain map_frame → … → camera frame); None when the
    bag has no /tf or its TF tree lacks map_frame. `tf`: the bag's TF when already read (`bag_tf`)."""
    tf = tf if tf is not None else bag_tf(bag_path)
    if tf is None or map_frame not in tf.frames:
        return None
    return _TfGroundTruth(tf, map_frame, f"/tf of bag {bag_path} ({map_frame} → camera frame)",
                          int(tolerance_s * 1e9))


def tf_lookup(tf: TfBuffer | None, tolerance_s: float = 0.05) -> Lookup:
    """`runtime.fix.Lookup` over a recorded TF tree, as the node's tf2 lookups at the image stamp."""
    def lookup(target: str, source: str, stamp_ns: int) -> Pose:
        if tf is None:
            raise LookupError(f"the bag has no /tf to look up {target} ← {source} in")
        try:
            return tf.lookup(target, source, stamp_ns, int(tolerance_s * 1e9))
        except TransformError as e:
            raise LookupError(str(e)) from e
    return lookup


def offline_settings(base_frame: str = "", odom_frame: str = "") -> LocalizerNodeConfig:
    """The node's settings for a recording: TF at the image stamp (no future dating or republishing: a replay
    carries every transform)."""
    return LocalizerNodeConfig(base_frame=base_frame, odom_frame=odom_frame, publish_tf=True, tf_future_dating_s=0.0,
                               tf_republish_rate_hz=0.0)


@dataclass
class FrameRecord:
    """The outcome for one image. Poses are map_from_camera (the camera optical frame in the map)."""

    stamp_ns: int
    frame_id: str
    success: bool
    map_from_camera: Pose | None = None
    covariance: np.ndarray | None = None  # (6, 6) ROS order (x, y, z, rot x, rot y, rot z), map axes
    num_inliers: int = 0
    num_matches: int = 0
    reference: str | None = None
    failure_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # localizer stages (seconds)
    groundtruth: Pose | None = None  # map_from_camera where known
    error_m: float | None = None  # with ground truth: inf when localization failed
    error_deg: float | None = None
    # normalized estimation error squared of the published 6-DoF covariance against the ground truth (mean 6 when
    # the covariance is honest); None without ground truth or a localized pose with a covariance
    nees: float | None = None
    published: Fix | None = None  # what the node would publish (pose of base_frame, TF); None: nothing
    publish_error: str | None = None  # localized, but not published (e.g. no camera extrinsic in the bag's TF)

    def to_json(self) -> dict:
        def pose(p: Pose | None) -> dict | None:
            return None if p is None else {"qvec_wxyz": p.qvec.tolist(), "tvec": p.t.tolist()}

        return {"stamp_ns": self.stamp_ns, "frame_id": self.frame_id, "success": self.success,
                "map_from_camera": pose(self.map_from_camera),
                "covariance": None if self.covariance is None else self.covariance.tolist(),
                "num_inliers": self.num_inliers, "num_matches": self.num_matches, "reference": self.reference,
                "failure_reason": self.failure_reason, "timings": self.timings,
                "groundtruth": pose(self.groundtruth), "error_m": finite_or_none(self.error_m),
                "error_deg": finite_or_none(self.error_deg), "nees": finite_or_none(self.nees),
                "publish_error": self.publish_error}


def count_images(bag_path: str | Path, image_topic: str) -> int:
    """Messages on the image topic (for a progress bar), checking the topic exists and carries images."""
    with BagReader(bag_path) as bag:
        bag.require_topic(image_topic, IMAGE_TYPES)
        return int(bag.reader.topics[image_topic].msgcount)


def localize_bag(localizer: Localizer, bag_path: str | Path, image_topic: str = "/camera/image_raw",
                 camera_info_topic: str | None = None, stride: int = 1, groundtruth: GroundTruth | None = None,
                 settings: LocalizerNodeConfig | None = None, lookup: Lookup | None = None,
                 on_frame: Callable[[FrameRecord], None] | None = None) -> list[FrameRecord]:
    """Localize every `stride`-th image of the topic, in time order; one record per image tried.

    Intrinsics come from the CameraInfo topic (default `<image namespace>/camera_info`). With `groundtruth`,
    each record carries the true pose and the position/rotation error (inf for a failed image; None where the
    ground truth has no pose at that stamp). `settings` (default `offline_settings()`: the camera frame, TF
    map→camera) and `lookup` (the bag's TF, for base_frame and odom_frame) make each record's `published`.
    """
    settings = settings or offline_settings()
    lookup = lookup or tf_lookup(None)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    records = []
    images = iter_bag_images(bag_path, image_topic, camera_info_topic)
    for index, (stamp, image, camera, frame_id) in enumerate(images):
        if index % stride:
            continue
        result = localizer.localize(image, camera)
        record = FrameRecord(stamp, frame_id, result.success, num_inliers=result.num_inliers,
                             num_matches=result.num_matches, reference=result.reference,
                             failure_reason=result.failure_reason, timings=dict(result.timings))
        if result.success:
            camera_pose = published_pose(result.cam_from_world, result.covariance)
            record.map_from_camera, record.covariance = camera_pose.map_from_frame, camera_pose.covariance
            try:
                record.published = make_fix(result.cam_from_world, result.covariance, stamp, frame_id,
                                            localizer.map.frame_id, settings, lookup)
                record.publish_error = record.published.tf_error
            except LookupError as e:
                record.publish_error = f"no pose published: {e}"
        if groundtruth is not None:
            record.groundtruth = groundtruth(frame_id, stamp)
        if record.groundtruth is not None:
            record.error_m, record.error_deg = (np.inf, np.inf) if record.map_from_camera is None else pose_error(
                record.map_from_camera.inverse(), record.groundtruth.inverse())
            if record.covariance is not None:  # the camera's: the published frame's maps to it exactly
                record.nees = nees(record.map_from_camera, record.covariance, record.groundtruth)
        records.append(record)
        if on_frame is not None:
            on_frame(record)
    return records


def write_pose_bag(records: list[FrameRecord], path: str | Path, map_frame: str, storage: Storage = "sqlite3",
                   tf_child_frame: str | None = None) -> None:
    """A rosbag2 of what the node would have published, recorded at the image stamps: PoseWithCovarianceStamped
    on /s2dhm/pose and TF on /tf (map→odom, or map→published frame). `tf_child_frame` renames the TF child (e.g.
    to replay map→camera next to the input bag, whose TF tree already gives the camera frame a parent)."""
    with BagWriter(path, storage) as bag:
        ts = bag.typestore
        bag.add_topic(POSE_TOPIC, "geometry_msgs/msg/PoseWithCovarianceStamped")
        bag.add_topic(TF_TOPIC, "tf2_msgs/msg/TFMessage")
        for r in records:
            if r.published is None:
                continue
            pose = r.published.pose
            bag.write(POSE_TOPIC, pose_with_covariance_stamped_msg(map_frame, r.stamp_ns, pose.map_from_frame,
                                                                   pose.covariance, ts), r.stamp_ns)
            if r.published.tf is not None:
                tf = r.published.tf
                bag.write(TF_TOPIC, tf_message([transform_stamped_msg(
                    map_frame, tf_child_frame or tf.child, tf.parent_from_child, tf.stamp_ns, ts)], ts), r.stamp_ns)


def write_trajectory(records: list[FrameRecord], path: str | Path) -> None:
    """The localized poses as a TUM file (`stamp tx ty tz qx qy qz qw` of the camera in the map)."""
    ok = [r for r in records if r.success]
    write_tum(Path(path), [r.stamp_ns for r in ok], [r.map_from_camera for r in ok])


def timing_summary(records: list[FrameRecord]) -> dict[str, dict[str, float]]:
    """Per localizer stage: mean, median and 90th percentile in seconds over all localized images."""
    stages = sorted({k for r in records for k in r.timings})
    out = {}
    for stage in stages:
        values = np.array([r.timings.get(stage, 0.0) for r in records])
        out[stage] = {"mean": float(values.mean()), "median": float(np.median(values)),
                      "p90": float(np.percentile(values, 90))}
    return out


@dataclass
class BagLocalizationRun:
    """What a run was given, for the results JSON (paths as given, settings as used)."""

    bag: str
    map: str
    image_topic: str
    stride: int
    map_frame: str
    groundtruth: str | None
    config: dict
    wall_time_s: float = 0.0
    started_unix: float = field(default_factory=time.time)


def summarize(records: list[FrameRecord], run: BagLocalizationRun) -> dict:
    """Counts, recall at the benchmark thresholds over the images with ground truth, median errors, speed, and the
    mean NEES of the published covariances (docs/pose-prior.md, "Calibration")."""
    localized = sum(r.success for r in records)
    summary: dict = {"images": len(records), "localized": localized,
                     "seconds_per_image": run.wall_time_s / max(len(records), 1)}
    judged = [r for r in records if r.error_m is not None]
    if judged:
        errors_m = np.array([r.error_m for r in judged])
        errors_deg = np.array([r.error_deg for r in judged])
        summary["with_groundtruth"] = len(judged)
        summary["recall"] = [{"max_m": m, "max_deg": d, "recall": float(v)} for (m, d), v in
                             zip(THRESHOLDS, recall_at_thresholds(errors_m, errors_deg, THRESHOLDS))]
        median_m, median_deg = median_errors(errors_m, errors_deg)
        summary["median_error_m"] = finite_or_none(median_m)
        summary["median_error_deg"] = finite_or_none(median_deg)
        values = np.array([r.nees for r in judged if r.nees is not None and np.isfinite(r.nees)])
        summary["nees"] = {"count": len(values), "mean": float(values.mean()) if len(values) else None,
                           "median": float(np.median(values)) if len(values) else None}
    return summary


def summary_line(summary: dict, out_dir: Path) -> str:
    n = summary["images"]
    line = (f"localized {summary['localized']}/{n} images ({100 * summary['localized'] / max(n, 1):.1f} %), "
            f"{summary['seconds_per_image']:.2f} s per image")
    if "recall" in summary:
        line += "; recall " + ", ".join(f"({r['max_m']:g} m, {r['max_deg']:g}°) {100 * r['recall']:.1f} %"
                                        for r in summary["recall"])
    if summary.get("nees", {}).get("count"):
        line += f"; mean NEES {summary['nees']['mean']:.2f} over {summary['nees']['count']} fixes (6 if honest)"
    return line + f"; results in {out_dir}"


def write_outputs(records: list[FrameRecord], run: BagLocalizationRun, out_dir: str | Path,
                  storage: Storage = "sqlite3", tf_child_frame: str | None = None) -> str:
    """Write poses/ (rosbag2), trajectory.tum, results.json and, with ground truth, report.md and its plots;
    returns the one-line summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_pose_bag(records, out / "poses", run.map_frame, storage, tf_child_frame)
    write_trajectory(records, out / "trajectory.tum")
    summary = summarize(records, run)
    data = {"run": asdict(run), "summary": summary, "timings_s": timing_summary(records),
            "frames": [r.to_json() for r in records]}
    write_text_atomic(out / "results.json", json.dumps(data, indent=1))
    if "recall" in summary:
        write_bag_report(records, run, summary, out)
    return summary_line(summary, out)
