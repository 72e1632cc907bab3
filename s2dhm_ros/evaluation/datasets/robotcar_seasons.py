"""RobotCar Seasons as published on visuallocalization.net (read the way hloc's RobotCar pipeline and the
official S2DHM code read it):

    <root>/images/overcast-reference/rear/<timestamp>.jpg        reference images (the map)
    <root>/images/<condition>/rear/<timestamp>.jpg               queries, one folder per condition
    <root>/3D-models/all-merged/all.nvm                          reference poses (NVM_V3; image names
                                                                 `./overcast-reference/rear/<ts>.png`, lines
                                                                 `name f qw qx qy qz cx cy cz k 0`)
    <root>/intrinsics/rear_intrinsics.txt                        lines `fx v`, `fy v`, `cx v`, `cy v`
                                                                 (published for rectified 1024x1024 images)
    <root>/queries/<condition>_queries_with_intrinsics.txt       optional (hloc / HF-Net lists): lines
                                                                 `<condition>/rear/<ts>.jpg MODEL w h params`;
                                                                 without it, all images of the folder
    <root>/robotcar_v2_train.txt                                 optional (v2) ground truth of the training
                                                                 queries: `<condition>/rear/<ts>.jpg|png` + a
                                                                 row-major 4x4 camera-to-world matrix
    <root>/robotcar_v2_test.txt                                  optional (v2) the test queries, one name a
                                                                 line, `rear/<ts>.png` (no condition folder)

Only the rear camera is used, as in the paper. Submission names are `rear/<timestamp>.jpg`; with the v2 test
list, the names as that list spells them (`rear/<timestamp>.png`: hloc's RobotCar `localize.py --v2` writes
png names, and the submission scripts that filter to robotcar_v2_test.txt write its names verbatim). The v2
layout was read from hloc (pipelines/RobotCar/localize.py) and from public readers of the v2 files, not from a
copy of the dataset.

Image size: rear_intrinsics.txt gives only fx fy cx cy, for the published 1024x1024 images. The size the
cameras get is read from the image headers (all references must agree; every query must match its camera), so
that a resized copy, or the tests' miniature, fails here with a clear message instead of halfway through a run;
its intrinsics must then be those of its own size (a principal point outside the image is rejected).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...geometry import Camera, Pose
from ..submission import read_submission
from .common import (BenchmarkSplit, Query, camera_from_query_list, data_lines, image_frame, image_size,
                     pose_from_quaternion_center)

CONDITIONS = ("dawn", "dusk", "night", "night-rain", "overcast-summer", "overcast-winter", "rain", "snow", "sun")
NIGHT_CONDITIONS = ("night", "night-rain")
REFERENCE_CONDITION = "overcast-reference"
CAMERA = "rear"
IMAGE_SIZE = 1024  # the published images are rectified to 1024x1024 (the size rear_intrinsics.txt is for)
NVM = Path("3D-models/all-merged/all.nvm")
INTRINSICS = Path("intrinsics/rear_intrinsics.txt")
V2_GROUNDTRUTH = Path("robotcar_v2_train.txt")
V2_TEST = Path("robotcar_v2_test.txt")
SPLITS = ("test", "train", "all")  # which queries: see read_robotcar_seasons


def read_rear_intrinsics(path: Path, size: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)) -> Camera:
    """The rear camera for images of `size` (width, height): the published 1024x1024 unless read from the
    images. A principal point outside the image means intrinsics of another resolution: rejected."""
    values = {fields[0]: float(fields[1]) for fields in data_lines(path) if len(fields) >= 2}
    missing = [k for k in ("fx", "fy", "cx", "cy") if k not in values]
    if missing:
        raise ValueError(f"{path}: missing {missing} (expected lines `fx v`, `fy v`, `cx v`, `cy v`)")
    width, height = size
    if not (0 < values["cx"] < width and 0 < values["cy"] < height):
        raise ValueError(f"{path}: principal point ({values['cx']:g}, {values['cy']:g}) lies outside the "
                         f"{width}x{height} images; the published intrinsics are for {IMAGE_SIZE}x{IMAGE_SIZE} "
                         "images: use the published images or intrinsics for this size")
    return Camera("PINHOLE", width, height, (values["fx"], values["fy"], values["cx"], values["cy"]))


def common_image_size(paths: Sequence[Path], what: str) -> tuple[int, int]:
    """The one (width, height) of `paths` (from the headers); a clear error when they differ."""
    sizes: dict[tuple[int, int], list[Path]] = {}
    for path in paths:
        sizes.setdefault(image_size(path), []).append(path)
    if len(sizes) != 1:
        found = "; ".join(f"{w}x{h}: {len(p)} image(s), e.g. {p[0]}" for (w, h), p in sorted(sizes.items()))
        raise ValueError(f"the {what} images must all have one size (rear_intrinsics.txt holds one camera), "
                         f"found {found or 'no image'}")
    return next(iter(sizes))


def read_v2_test_list(path: Path) -> dict[str, str]:
    """Timestamp -> name as listed (`rear/<ts>.png`) of the rear-camera entries of robotcar_v2_test.txt."""
    names = {}
    for fields in data_lines(path):
        parts = fields[0].split("/")
        if len(parts) >= 2 and parts[-2] == CAMERA:
            names[Path(parts[-1]).stem] = "/".join(parts[-2:])
    if not names:
        raise ValueError(f"{path} lists no {CAMERA}/<timestamp> image")
    return names


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
                          groundtruth: str | Path | None = None, split: str = "test") -> BenchmarkSplit:
    """The rear-camera references (with NVM poses) and the queries of `conditions`. Ground truth: `groundtruth`
    (a submission-format file) if given, else robotcar_v2_train.txt when present.

    `split`: "test" (default): the queries of robotcar_v2_test.txt when the dataset has it (v2; the submission
    then names them as that file does), else every query image (v1); "train": the v2 training queries (those of
    robotcar_v2_train.txt, with ground truth, for a local recall); "all": every query image."""
    root = Path(root)
    for required in (NVM, INTRINSICS):
        if not (root / required).is_file():
            raise FileNotFoundError(f"{root / required} not found: is {root} the RobotCar Seasons root?")
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown:
        raise ValueError(f"unknown RobotCar Seasons condition(s) {unknown}; known: {list(CONDITIONS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown RobotCar Seasons split {split!r}; known: {list(SPLITS)}")
    reference_poses = {name: pose for name, pose in sorted(read_nvm_poses(root / NVM).items())
                       if name.startswith(f"{REFERENCE_CONDITION}/{CAMERA}/")}
    if not reference_poses:
        raise ValueError(f"{root / NVM} has no {REFERENCE_CONDITION}/{CAMERA}/ image")
    size = common_image_size([root / "images" / name for name in reference_poses], f"{REFERENCE_CONDITION} {CAMERA}")
    rear = read_rear_intrinsics(root / INTRINSICS, size)
    references = [image_frame(root / "images" / name, name, rear, pose, _stamp_ns(name))
                  for name, pose in reference_poses.items()]
    truth = _groundtruth(root, groundtruth)
    selected = _selection(root, split)
    queries = []
    for condition in conditions:
        for name, camera in _query_names(root, condition, rear):
            submission_name = f"{CAMERA}/{Path(name).name}"
            if selected is not None:
                if Path(name).stem not in selected:
                    continue
                submission_name = selected[Path(name).stem] or submission_name
            pose = truth.get(name, truth.get(submission_name, truth.get(f"{CAMERA}/{Path(name).name}")))
            frame = image_frame(root / "images" / name, name, camera, pose, _stamp_ns(name))
            _check_size(root / "images" / name, camera, rear)
            queries.append(Query(frame, condition, submission_name))
    if split == "test" and selected is not None and set(conditions) == set(CONDITIONS):
        missing = sorted(set(selected) - {Path(q.frame.name).stem for q in queries})
        if missing:
            raise FileNotFoundError(f"{root / V2_TEST} lists {len(missing)} {CAMERA} image(s) found under no "
                                    f"images/<condition>/{CAMERA}/ folder (or query list), e.g. "
                                    f"{selected[missing[0]]}")
    groups = {"day-all": [c for c in CONDITIONS if c not in NIGHT_CONDITIONS], "night-all": list(NIGHT_CONDITIONS)}
    return BenchmarkSplit("robotcar-seasons", references, queries, groups)


def _selection(root: Path, split: str) -> dict[str, str | None] | None:
    """Timestamp -> submission name (None: the default) of the queries of `split`; None: every query."""
    if split == "test":
        return read_v2_test_list(root / V2_TEST) if (root / V2_TEST).is_file() else None
    if split == "train":
        if not (root / V2_GROUNDTRUTH).is_file():
            raise FileNotFoundError(f"split 'train' needs {root / V2_GROUNDTRUTH} (RobotCar Seasons v2)")
        return {Path(name).stem: None for name in read_v2_groundtruth(root / V2_GROUNDTRUTH)}
    return None


def _check_size(path: Path, camera: Camera, rear: Camera) -> None:
    width, height = image_size(path)
    if (width, height) != (camera.width, camera.height):
        source = "rear_intrinsics.txt and the reference images" if camera is rear else "its query list"
        raise ValueError(f"query {path} is {width}x{height} but its camera ({source}) says "
                         f"{camera.width}x{camera.height}")


def _groundtruth(root: Path, path: str | Path | None) -> dict[str, Pose]:
    if path is not None:
        return read_submission(path)
    return read_v2_groundtruth(root / V2_GROUNDTRUTH) if (root / V2_GROUNDTRUTH).is_file() else {}
