"""Extended CMU Seasons as published on visuallocalization.net (read the way hloc's CMU pipeline, kapture's
importer and the official S2DHM code read it). Each slice is its own map:

    <root>/intrinsics.txt                                   `c0|c1 MODEL width height fx fy cx cy k1 k2 p1 p2`
                                                            (`#` comments; OPENCV model, distorted images)
    <root>/slice<N>/database/img_<n>_c<k>_<ts>us.jpg        reference images
    <root>/slice<N>/ground-truth-database-images-slice<N>.txt
                                                            `name qw qx qy qz cx cy cz`: R(q) world→camera
                                                            rotation, C the camera centre (t = -R C)
    <root>/slice<N>/query/img_<n>_c<k>_<ts>us.jpg           query images
    <root>/slice<N>/test-images-slice<N>.txt                the query names
    <root>/slice<N>/camera-poses/*.txt                      optional query ground truth, same format as the
                                                            database list

Queries are labelled by area as in the paper: urban (slices 2-8), suburban (9-17), park (18-25). Submission
names are the bare image names.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from ...geometry import Camera, Pose
from .common import BenchmarkSplit, Query, data_lines, image_frame, pose_from_quaternion_center

SLICES = tuple(range(2, 26))
IMAGE_NAME = re.compile(r"img_(?P<index>\d+)_(?P<camera>c\d+)_(?P<stamp_us>\d+)us\.jpg$")


def area(slice_number: int) -> str:
    if 2 <= slice_number <= 8:
        return "urban"
    if 9 <= slice_number <= 17:
        return "suburban"
    if 18 <= slice_number <= 25:
        return "park"
    raise ValueError(f"Extended CMU Seasons has slices 2 to 25, not {slice_number}")


def read_cmu_intrinsics(path: Path) -> dict[str, Camera]:
    cameras = {}
    for fields in data_lines(path):
        try:
            cameras[fields[0]] = Camera(fields[1], int(fields[2]), int(fields[3]), tuple(map(float, fields[4:])))
        except (IndexError, ValueError) as e:
            raise ValueError(f"{path}: bad line {' '.join(fields)!r} (expected `cK MODEL w h params...`): {e}") from e
    return cameras


def read_pose_list(path: Path) -> dict[str, Pose]:
    """Name -> cam_from_world from a `name qw qx qy qz cx cy cz` list."""
    poses = {}
    for fields in data_lines(path):
        if len(fields) != 8:
            raise ValueError(f"{path}: expected `name qw qx qy qz cx cy cz`, got {len(fields)} fields")
        poses[fields[0]] = pose_from_quaternion_center(fields[1:5], fields[5:8])
    return poses


def _parse_name(name: str, cameras: dict[str, Camera], where: Path) -> tuple[Camera, int]:
    match = IMAGE_NAME.match(name)
    if match is None:
        raise ValueError(f"{where}: image name {name!r} is not img_<n>_c<k>_<timestamp>us.jpg")
    if match["camera"] not in cameras:
        raise ValueError(f"{where}: camera {match['camera']} of {name} is not in intrinsics.txt")
    return cameras[match["camera"]], int(match["stamp_us"]) * 1000


def read_cmu_slice(root: str | Path, slice_number: int) -> BenchmarkSplit:
    root = Path(root)
    folder = root / f"slice{slice_number}"
    database_list = folder / f"ground-truth-database-images-slice{slice_number}.txt"
    query_list = folder / f"test-images-slice{slice_number}.txt"
    for required in (root / "intrinsics.txt", database_list, query_list):
        if not required.is_file():
            raise FileNotFoundError(f"{required} not found: is {root} the Extended CMU Seasons root?")
    cameras = read_cmu_intrinsics(root / "intrinsics.txt")
    references = []
    for name, pose in read_pose_list(database_list).items():
        camera, stamp = _parse_name(name, cameras, database_list)
        references.append(image_frame(folder / "database" / name, name, camera, pose, stamp))
    truth: dict[str, Pose] = {}
    for path in sorted((folder / "camera-poses").glob("*.txt")):
        truth.update(read_pose_list(path))
    queries = []
    for fields in data_lines(query_list):
        name = fields[0]
        camera, stamp = _parse_name(name, cameras, query_list)
        queries.append(Query(image_frame(folder / "query" / name, name, camera, truth.get(name), stamp),
                             area(slice_number), name))
    return BenchmarkSplit(f"slice{slice_number}", references, queries)


def read_cmu_seasons(root: str | Path, slices: Iterable[int] | None = None) -> list[BenchmarkSplit]:
    """One split per slice; by default every slice folder present under `root`."""
    root = Path(root)
    if slices is None:
        slices = [n for n in SLICES if (root / f"slice{n}").is_dir()]
        if not slices:
            raise FileNotFoundError(f"no slice<N> folder under {root}: is it the Extended CMU Seasons root?")
    return [read_cmu_slice(root, n) for n in slices]
