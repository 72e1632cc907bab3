"""TUM trajectory files (`stamp tx ty tz qx qy qz qw` per line, parent_from_child poses, stamp in seconds):
what evo, the TUM tools and most SLAM evaluations read. Stamps are kept as integer nanoseconds, written with all
nine fractional digits and parsed back exactly (a float would lose the last digits of a UNIX time)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..geometry import Pose
from .atomic import write_text_atomic

NS = 1_000_000_000
HEADER = "# timestamp tx ty tz qx qy qz qw"


def format_stamp(stamp_ns: int) -> str:
    sec, nsec = divmod(int(stamp_ns), NS)
    return f"{sec}.{nsec:09d}"


def parse_stamp(text: str) -> int:
    """Seconds with up to nine decimals -> integer nanoseconds, exactly."""
    sec, _, frac = text.partition(".")
    if not sec.lstrip("-").isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"{text!r} is not a time stamp in seconds")
    sign = -1 if sec.startswith("-") else 1
    return sign * (abs(int(sec)) * NS + int((frac + "0" * 9)[:9]))


def write_tum(path: str | Path, stamps_ns: Sequence[int], poses: Sequence[Pose]) -> Path:
    if len(stamps_ns) != len(poses):
        raise ValueError(f"{len(stamps_ns)} stamps but {len(poses)} poses")
    lines = [HEADER]
    for stamp, pose in zip(stamps_ns, poses):
        w, x, y, z = pose.qvec
        lines.append(format_stamp(stamp) + " " + " ".join(f"{v:.9f}" for v in (*pose.t, x, y, z, w)))
    return write_text_atomic(path, "\n".join(lines) + "\n")


def read_tum(path: str | Path) -> tuple[list[int], list[Pose]]:
    stamps, poses = [], []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 8:
            raise ValueError(f"{path}:{number}: expected `stamp tx ty tz qx qy qz qw`, got {len(fields)} fields")
        tx, ty, tz, qx, qy, qz, qw = (float(v) for v in fields[1:])
        stamps.append(parse_stamp(fields[0]))
        poses.append(Pose.from_qvec_tvec([qw, qx, qy, qz], [tx, ty, tz]))
    return stamps, poses
