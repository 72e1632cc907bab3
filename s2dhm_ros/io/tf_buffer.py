"""A TF buffer without ROS: the transform tree of a bag's /tf and /tf_static, queried at any stamp.

Each edge parent→child stores `parent_from_child` (x_parent = R x_child + t), which is what a ROS transform holds.
Static edges hold at all times. A dynamic edge is known at a stamp only when one of its samples lies within
`tolerance_ns` of it: inside its data it is then interpolated between the samples either side of the stamp (slerp
for the rotation, linear for the translation), and before the first or after the last sample it is that sample. So
data every 2 x tolerance or more often is interpolated everywhere, while the middle of a longer dropout is a gap
(a lookup there fails) instead of an invented pose. `lookup` walks the tree up from both frames to their common
ancestor, so chains may go up and down (e.g. camera → base_link → odom → map).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
from scipy.spatial.transform import Rotation

from ..geometry import Pose


class TransformError(ValueError):
    """A transform cannot be looked up."""


class TransformChainError(TransformError):
    """The two frames are not connected in the TF tree (or one is not in it at all)."""


class TransformTimeError(TransformError):
    """The frames are connected, but a dynamic edge of the chain has no data near the requested stamp."""


def _frame(name: str) -> str:
    """ROS 1 frame ids may carry a leading slash; tf2 drops it."""
    return name.lstrip("/")


def _slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """Spherical interpolation between unit quaternions (x, y, z, w), along the shorter arc."""
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 1.0 - 1e-12:
        q = q0 + s * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1.0 - s) * theta) * q0 + np.sin(s * theta) * q1) / np.sin(theta)


@dataclass
class _DynamicEdge:
    parent: str
    stamps: list[int] = field(default_factory=list)
    quats: list[np.ndarray] = field(default_factory=list)  # (x, y, z, w)
    translations: list[np.ndarray] = field(default_factory=list)
    _sorted: bool = True

    def add(self, stamp_ns: int, quat: np.ndarray, t: np.ndarray) -> None:
        if self.stamps and stamp_ns < self.stamps[-1]:
            self._sorted = False
        self.stamps.append(stamp_ns)
        self.quats.append(quat)
        self.translations.append(t)

    def _sort(self) -> None:
        order = sorted(range(len(self.stamps)), key=self.stamps.__getitem__)
        self.stamps = [self.stamps[i] for i in order]
        self.quats = [self.quats[i] for i in order]
        self.translations = [self.translations[i] for i in order]
        self._sorted = True

    def at(self, stamp_ns: int, tolerance_ns: int, child: str) -> Pose:
        """parent_from_child at `stamp_ns`, when a sample lies within `tolerance_ns` of it (on either side): a
        dropout in the data is not bridged with invented poses, while samples at most 2 x tolerance apart
        interpolate everywhere between them."""
        if not self._sorted:
            self._sort()
        first, last = self.stamps[0], self.stamps[-1]
        if stamp_ns <= first or stamp_ns >= last:
            nearest = 0 if stamp_ns <= first else len(self.stamps) - 1
            gap = abs(stamp_ns - self.stamps[nearest])
            if gap > tolerance_ns:
                raise TransformTimeError(
                    f"transform {self.parent} → {child} is known from {first} to {last} ns; stamp {stamp_ns} is "
                    f"{gap / 1e9:.3f} s outside (tolerance {tolerance_ns / 1e9:.3f} s)")
            return Pose(Rotation.from_quat(self.quats[nearest]).as_matrix(), self.translations[nearest])
        i = bisect.bisect_right(self.stamps, stamp_ns)
        t0, t1 = self.stamps[i - 1], self.stamps[i]  # t0 <= stamp_ns < t1
        gap = min(stamp_ns - t0, t1 - stamp_ns)
        if gap > tolerance_ns:
            raise TransformTimeError(
                f"transform {self.parent} → {child} has no sample between {t0} and {t1} ns (a "
                f"{(t1 - t0) / 1e9:.3f} s dropout); stamp {stamp_ns} is {gap / 1e9:.3f} s from the nearer sample "
                f"(tolerance {tolerance_ns / 1e9:.3f} s)")
        s = (stamp_ns - t0) / (t1 - t0)
        q = _slerp(self.quats[i - 1], self.quats[i], s)
        t = (1.0 - s) * self.translations[i - 1] + s * self.translations[i]
        return Pose(Rotation.from_quat(q).as_matrix(), t)


class TfBuffer:
    """The transform tree; fill it with `add_transform` or `add_tf_message`, query it with `lookup`."""

    def __init__(self) -> None:
        self._static: dict[str, tuple[str, Pose]] = {}  # child → (parent, parent_from_child)
        self._dynamic: dict[str, _DynamicEdge] = {}  # child → samples of parent_from_child

    @property
    def frames(self) -> set[str]:
        parents = {p for p, _ in self._static.values()} | {e.parent for e in self._dynamic.values()}
        return parents | set(self._static) | set(self._dynamic)

    def _parent(self, child: str) -> str | None:
        if child in self._static:
            return self._static[child][0]
        edge = self._dynamic.get(child)
        return edge.parent if edge else None

    def add_transform(self, parent: str, child: str, parent_from_child: Pose, stamp_ns: int,
                      static: bool = False) -> None:
        """Record the transform parent→child (x_parent = R x_child + t) at `stamp_ns` (ignored when static)."""
        parent, child = _frame(parent), _frame(child)
        if parent == child:
            raise ValueError(f"a transform from frame {parent!r} to itself is not allowed")
        known = self._parent(child)
        if known is not None and known != parent:
            raise ValueError(f"frame {child!r} has two parents in the TF data, {known!r} and {parent!r}; "
                             "a TF tree allows one parent per frame")
        if static:
            if child in self._dynamic:
                raise ValueError(f"transform {parent} → {child} is published both on /tf and /tf_static")
            self._static[child] = (parent, parent_from_child)
            return
        if child in self._static:
            raise ValueError(f"transform {parent} → {child} is published both on /tf and /tf_static")
        x, y, z, w = Rotation.from_matrix(parent_from_child.R).as_quat()
        self._dynamic.setdefault(child, _DynamicEdge(parent)).add(int(stamp_ns), np.array([x, y, z, w]),
                                                                  parent_from_child.t.copy())

    def add_tf_message(self, msg: Any, static: bool = False) -> None:
        """Record every TransformStamped of a tf2_msgs/TFMessage (from /tf, or /tf_static with static=True)."""
        for tf in msg.transforms:
            pose = Pose.from_message_fields(tf.transform.translation, tf.transform.rotation)
            stamp = int(tf.header.stamp.sec) * 1_000_000_000 + int(tf.header.stamp.nanosec)
            self.add_transform(tf.header.frame_id, tf.child_frame_id, pose, stamp, static=static)

    def _chain_to_root(self, frame: str) -> list[str]:
        chain = [frame]
        while (parent := self._parent(chain[-1])) is not None:
            if parent in chain:
                raise TransformChainError(f"the TF data has a loop through {parent!r}: {' → '.join(chain)}")
            chain.append(parent)
        return chain

    def connected_frames(self, frame: str) -> list[str]:
        """The frames of the tree `frame` belongs to (those a lookup from `frame` can reach)."""
        root = self._chain_to_root(_frame(frame))[-1]
        return sorted(f for f in self.frames if self._chain_to_root(f)[-1] == root)

    def _root_from(self, chain: list[str], stamp_ns: int, tolerance_ns: int) -> Pose:
        """root_from_chain[0] along `chain` (a frame followed by its ancestors up to the root)."""
        pose = Pose.identity()
        for child in chain[:-1]:
            if child in self._static:
                edge = self._static[child][1]
            else:
                edge = self._dynamic[child].at(stamp_ns, tolerance_ns, child)
            pose = edge * pose
        return pose

    def lookup(self, target_frame: str, source_frame: str, stamp_ns: int, tolerance_ns: int = 0) -> Pose:
        """The transform `target_from_source` at `stamp_ns`: it maps points given in source into target.

        Raises TransformChainError when the frames are not connected and TransformTimeError when a dynamic edge
        of the chain has no sample within `tolerance_ns` of the stamp (beyond its data, or inside a dropout).
        """
        target, source = _frame(target_frame), _frame(source_frame)
        frames = self.frames
        for name in (target, source):
            if name not in frames:
                raise TransformChainError(f"frame {name!r} is not in the TF data; frames present: "
                                          f"{', '.join(sorted(frames)) or 'none'}")
        if target == source:
            return Pose.identity()
        up_source, up_target = self._chain_to_root(source), self._chain_to_root(target)
        common = next((f for f in up_source if f in set(up_target)), None)
        if common is None:
            raise TransformChainError(
                f"no TF chain between {target!r} and {source!r}. Frames connected to {target!r}: "
                f"{', '.join(self.connected_frames(target))}; frames connected to {source!r}: "
                f"{', '.join(self.connected_frames(source))}")
        common_from_source = self._root_from(up_source[: up_source.index(common) + 1], stamp_ns, tolerance_ns)
        common_from_target = self._root_from(up_target[: up_target.index(common) + 1], stamp_ns, tolerance_ns)
        return common_from_target.inverse() * common_from_source

    @classmethod
    def from_messages(cls, messages: Iterable[tuple[Any, bool]]) -> "TfBuffer":
        """A buffer filled from (TFMessage, is_static) pairs, e.g. read from a bag's /tf and /tf_static."""
        buffer = cls()
        for msg, static in messages:
            buffer.add_tf_message(msg, static=static)
        return buffer
