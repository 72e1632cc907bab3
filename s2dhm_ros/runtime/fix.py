"""One successful localization turned into what the localizer node publishes, given TF lookups at the image stamp.

`lookup(target, source, stamp_ns)` returns the transform target_from_source (a `Pose`) or raises LookupError; the
node backs it with tf2, tests with synthetic transforms.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..geometry import Pose
from .node_config import LocalizerNodeConfig
from .pose_output import PublishedPose, future_dated_stamp_ns, map_from_odom, published_pose

Lookup = Callable[[str, str, int], Pose]


@dataclass(frozen=True)
class Transform:
    parent: str
    child: str
    parent_from_child: Pose
    stamp_ns: int


@dataclass(frozen=True)
class Fix:
    stamp_ns: int  # the image's stamp
    map_frame: str
    frame: str  # the published frame: base_frame, or the camera optical frame
    pose: PublishedPose
    tf: Transform | None  # None when TF is off or odom->base was not available
    tf_error: str | None = None


def make_fix(cam_from_world: Pose, covariance: np.ndarray | None, stamp_ns: int, camera_frame: str,
             map_frame: str, settings: LocalizerNodeConfig, lookup: Lookup) -> Fix:
    """Raises LookupError when the camera extrinsic (camera <- base_frame) is unknown: no pose can be published."""
    frame = settings.base_frame or camera_frame
    cam_from_frame = lookup(camera_frame, frame, stamp_ns) if frame != camera_frame else None
    pose = published_pose(cam_from_world, covariance, cam_from_frame)
    if not settings.publish_tf:
        return Fix(stamp_ns, map_frame, frame, pose, None)
    tf_stamp = future_dated_stamp_ns(stamp_ns, settings.tf_future_dating_s)
    if not settings.odom_frame:
        return Fix(stamp_ns, map_frame, frame, pose, Transform(map_frame, frame, pose.map_from_frame, tf_stamp))
    try:
        odom_from_frame = lookup(settings.odom_frame, frame, stamp_ns)
    except LookupError as e:
        return Fix(stamp_ns, map_frame, frame, pose, None, f"no map->{settings.odom_frame} published: {e}")
    tf = Transform(map_frame, settings.odom_frame, map_from_odom(pose.map_from_frame, odom_from_frame), tf_stamp)
    return Fix(stamp_ns, map_frame, frame, pose, tf)
