"""RobotCar Seasons as published on visuallocalization.net (read the way hloc's RobotCar pipeline and the
official S2DHM code read it):

    <root>/images/overcast-reference/rear/<timestamp>.jpg        reference images (the map)
    <root>/images/<condition>/rear/<timestamp>.jpg               queries, one folder per condition
    <root>/3D-models/all-merged/all.nvm                          reference poses (NVM_V3; image names
                                                                 `./overcast-reference/rear/<ts>.png`, lines
                                                                 `name f qw qx qy qz cx cy cz k 0`)
    <root>/intrinsics/rear_intrinsics.txt                        lines `fx v`, `fy v`, `cx v`, `cy v`
                                                                 (rectified 1024x1024 images)
    <root>/queries/<condition>_queries_with_intrinsics.txt       optional (hloc / HF-Net lists): lines
                                                                 `<condition>/rear/<ts>.jpg MODEL w h params`;
                                                                 without it, all images of the folder
    <root>/robotcar_v2_train.txt                                 optional ground truth of the v2 training
                                                                 queries: `name` + a row-major 4x4 camera-to-
                                                                 world matrix (names may end in .png)

Only the rear camera is used, as in the paper. Submission names are `rear/<timestamp>.jpg`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...geometry import Camera, Pose
from ..submission import read_submission
from .common import (BenchmarkSplit, Query, camera_from_query_list, data_lines, image_frame,
                     pose_from_quaternion_center)

CONDITIONS = ("dawn", "dusk", "night", "night-rain", "overcast-summer", "overcast-winter", "rain", "snow", "sun")
NIGHT_CONDITIONS = ("night", "night-rain")
REFERENCE_CONDITION = "overcast-reference"
CAMERA = "rear"
IMAGE_SIZE = 1024  # the published images are rectified to 1024x1024
NVM = Path("3D-models/all-merged/all.nvm")
INTRINSICS = Path("intrinsics/rear_intrinsics.txt")
V2_GROUNDTRUTH = Path("robotcar_v2_train.txt")


def read_rear_intrinsics(path: Path) -> Camera:
    values = {fields[0]: float(fields[1]) for fields in data_lines(path) if len(fields) >= 2}
    missing = [k for k in ("fx", "fy", "cx", "cy") if k not in values]
    if missing:
        raise ValueError(f"{path}: missing {missing} (expected lines `fx v`, `fy v`, `cx v`, `cy v`)")
    return Camera("PINHOLE", IMAGE_SIZE, IMAGE_SIZE, (values["fx"], values["fy"], values["cx"], values["cy"]))


def _image_name(raw: str) -> str:
    """NVM and v2 names (`./overcast-reference/rear/<ts>.png`) -> the published jpg path under images/."""
    name = raw[2:] if raw.startswith("./") else raw
    return name[:-4] + ".jpg" if name.endswith(".png") else name


def _stamp_ns(name: str) -> int | None:
    """RobotCar file names are UNIX timestamps in microseconds."""
    stem = Path(name).stem
    return int(stem) * 1000 if stem.isdigit() else None


def read_nvm_poses(path: Path) -> dict[str, Pose]:
    """Image name (under images/, .jpg) -> cam_from_world, from the camera section of an NVM_V3 file."""
    lines = iter(path.read_text().splitlines())
    header = next(lines, "")
    if not header.startswith("NVM_V3"):
        raise ValueError(f"{path} is not an NVM_V3 file (first line {header[:20]!r})")
    count_line = next((line for line in lines if line.strip()), "")
    try:
        count = int(count_line.split()[0])
    except (IndexError, ValueError) as e:
        raise ValueError(f"{path}: expected the number of cameras after the header, got {count_line!r}") from e
    poses: dict[str, Pose] = {}
    for line in lines:
        if len(poses) == count:
            break
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 9:
            raise ValueError(f"{path}: camera line {line!r} has {len(fields)} fields, expected 11")
        poses[_image_name(fields[0])] = pose_from_quaternion_center(fields[2:6], fields[6:9])
    if len(poses) != count:
        raise ValueError(f"{path}: the header announces {count} cameras, the file holds {len(poses)}")
    return poses


def read_v2_groundtruth(path: Path) -> dict[str, Pose]:
    """Name -> cam_from_world from `robotcar_v2_train.txt` (each line: a name and a 4x4 world_from_camera)."""
    poses = {}
    for fields in data_lines(path):
        if len(fields) != 17:
            raise ValueError(f"{path}: expected a name and 16 matrix entries, got {len(fields)} fields")
        poses[_image_name(fields[0])] = Pose.from_matrix(np.array(fields[1:], dtype=np.float64).reshape(4, 4)).inverse()
    return poses


def _query_names(root: Path, condition: str, rear: Camera) -> list[tuple[str, Camera]]:
    listed = root / "queries" / f"{condition}_queries_with_intrinsics.txt"
    if listed.is_file():
        return [(f[0], camera_from_query_list(f[1:], str(listed))) for f in data_lines(listed)
                if Path(f[0]).parent.name == CAMERA]
    folder = root / "images" / condition / CAMERA
    return [(f"{condition}/{CAMERA}/{p.name}", rear) for p in sorted(folder.glob("*.jpg"))]


def read_robotcar_seasons(root: str | Path, conditions: Sequence[str] = CONDITIONS,
                          groundtruth: str | Path | None = None) -> BenchmarkSplit:
    """The rear-camera references (with NVM poses) and the queries of `conditions`. Ground truth: `groundtruth`
    (a submission-format file) if given, else robotcar_v2_train.txt when present."""
    root = Path(root)
    for required in (NVM, INTRINSICS):
        if not (root / required).is_file():
            raise FileNotFoundError(f"{root / required} not found: is {root} the RobotCar Seasons root?")
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown:
        raise ValueError(f"unknown RobotCar Seasons condition(s) {unknown}; known: {list(CONDITIONS)}")
    rear = read_rear_intrinsics(root / INTRINSICS)
    references = [image_frame(root / "images" / name, name, rear, pose, _stamp_ns(name))
                  for name, pose in sorted(read_nvm_poses(root / NVM).items())
                  if name.startswith(f"{REFERENCE_CONDITION}/{CAMERA}/")]
    if not references:
        raise ValueError(f"{root / NVM} has no {REFERENCE_CONDITION}/{CAMERA}/ image")
    truth = _groundtruth(root, groundtruth)
    queries = []
    for condition in conditions:
        for name, camera in _query_names(root, condition, rear):
            submission_name = f"{CAMERA}/{Path(name).name}"
            pose = truth.get(name, truth.get(submission_name))
            queries.append(Query(image_frame(root / "images" / name, name, camera, pose, _stamp_ns(name)),
                                 condition, submission_name))
    groups = {"day-all": [c for c in CONDITIONS if c not in NIGHT_CONDITIONS], "night-all": list(NIGHT_CONDITIONS)}
    return BenchmarkSplit("robotcar-seasons", references, queries, groups)


def _groundtruth(root: Path, path: str | Path | None) -> dict[str, Pose]:
    if path is not None:
        return read_submission(path)
    return read_v2_groundtruth(root / V2_GROUNDTRUTH) if (root / V2_GROUNDTRUTH).is_file() else {}
