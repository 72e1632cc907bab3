"""What both benchmark readers return: per map (a RobotCar Seasons model, a CMU slice) its reference frames with
poses and its queries with intrinsics, condition label, the name the submission file expects and, where the
dataset publishes it, the ground-truth pose."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from ...frames import Frame
from ...geometry import Camera, Pose
from ...io.images import read_image_rgb


@dataclass
class Query:
    frame: Frame  # name: path relative to the split's image root; cam_from_world: ground truth or None
    condition: str  # e.g. "night" (RobotCar) or "urban" (CMU)
    submission_name: str  # e.g. "rear/1418235223450115.jpg" or "img_00122_c0_1303398475046031us.jpg"


@dataclass
class BenchmarkSplit:
    """The references of one map and the queries localized against it."""

    name: str  # "robotcar-seasons" or "slice<N>"
    references: list[Frame]
    queries: list[Query] = field(default_factory=list)
    condition_groups: dict[str, list[str]] = field(default_factory=dict)  # e.g. {"night-all": [...]}


def image_frame(path: Path, name: str, camera: Camera, cam_from_world: Pose | None = None,
                stamp_ns: int | None = None) -> Frame:
    """A lazily loaded frame; a missing file is reported now, not halfway through a long run."""
    if not path.is_file():
        raise FileNotFoundError(f"image {path} listed by the dataset is missing")
    return Frame(name, camera, partial(read_image_rgb, path), cam_from_world, stamp_ns)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header only (cheap on a whole dataset)."""
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise FileNotFoundError(f"image {path} listed by the dataset is missing") from None
    except OSError as e:
        raise ValueError(f"{path} is not a readable image: {e}") from e


def data_lines(path: Path) -> list[list[str]]:
    """Whitespace-split lines of a text file, without blank lines and `#` comments."""
    return [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def pose_from_quaternion_center(qvec_wxyz: list[str], center: list[str]) -> Pose:
    """cam_from_world from the (qw qx qy qz cx cy cz) of NVM and of the CMU lists: R = R(q) maps world to camera
    and C is the camera centre, so t = -R C."""
    q = np.array(qvec_wxyz, dtype=np.float64)
    rotation = Pose.from_qvec_tvec(q / np.linalg.norm(q), np.zeros(3)).R
    return Pose(rotation, -rotation @ np.array(center, dtype=np.float64))


def camera_from_query_list(fields: list[str], where: str) -> Camera:
    """`MODEL width height params...` of an hloc `*_queries_with_intrinsics.txt` line."""
    try:
        return Camera(fields[0], int(fields[1]), int(fields[2]), tuple(float(v) for v in fields[3:]))
    except (IndexError, ValueError) as e:
        raise ValueError(f"{where}: expected `name MODEL width height params...`: {e}") from e
