"""The visuallocalization.net submission format: one line per localized query,

    <name> qw qx qy qz tx ty tz

with (qw, qx, qy, qz, t) the world→camera pose (`cam_from_world`, COLMAP's convention). Names are those the
benchmark expects: `rear/<timestamp>.jpg` for RobotCar Seasons and `img_<n>_c<k>_<timestamp>us.jpg` for
Extended CMU Seasons (as hloc's localize_sfm and the official S2DHM code write them). Queries without a pose are
simply absent; the benchmark counts them as failures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..geometry import Pose
from ..io.atomic import write_text_atomic


def _number(v: float) -> str:
    return f"{float(v) + 0.0:.10g}"  # + 0.0 turns -0.0 into 0.0


def submission_line(name: str, cam_from_world: Pose) -> str:
    """`name qw qx qy qz tx ty tz` (quaternion with w >= 0)."""
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"query name {name!r} is empty or contains whitespace")
    return " ".join([name] + [_number(v) for v in (*cam_from_world.qvec, *cam_from_world.t)])


def write_submission(path: str | Path, poses: Iterable[tuple[str, Pose]]) -> Path:
    """Write (name, cam_from_world) pairs atomically; a name given twice is an error."""
    lines, seen = [], set()
    for name, pose in poses:
        if name in seen:
            raise ValueError(f"query {name} appears twice in the submission")
        seen.add(name)
        lines.append(submission_line(name, pose))
    return write_text_atomic(path, "".join(line + "\n" for line in lines))


def read_submission(path: str | Path) -> dict[str, Pose]:
    """name -> cam_from_world of a submission file (or of ground truth in the same format)."""
    poses: dict[str, Pose] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 8:
            raise ValueError(f"{path}:{number}: expected `name qw qx qy qz tx ty tz`, got {len(fields)} fields")
        q = np.array(fields[1:5], dtype=np.float64)
        norm = np.linalg.norm(q)
        if not 0.99 < norm < 1.01:
            raise ValueError(f"{path}:{number}: quaternion norm {norm:.4f} is not 1")
        poses[fields[0]] = Pose.from_qvec_tvec(q / norm, np.array(fields[5:8], dtype=np.float64))
    return poses
