"""Miniature RobotCar Seasons and Extended CMU Seasons folders in exactly the published layouts, filled with
renderings of the synthetic street (the `street` fixture), for the dataset-reader and benchmark tests."""
from pathlib import Path

import cv2
import numpy as np

from s2dhm_ros.geometry import Pose

T0_US = 1418235223450115  # a RobotCar-like UNIX time in microseconds


def _write_jpg(path: Path, image_rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


def _q_c(pose: Pose) -> str:
    """`qw qx qy qz cx cy cz` of a cam_from_world pose (rotation world→camera, camera centre)."""
    return " ".join(f"{v:.12f}" for v in (*pose.qvec, *pose.center))


def make_robotcar(root: Path, frames) -> dict:
    """References: frames 0, 2, 4, 6 (overcast-reference). Queries: frames 1, 3 (night, listed by folder), 5 (sun,
    listed in queries/sun_queries_with_intrinsics.txt). v2 split: frame 1 is a training query (its ground truth in
    robotcar_v2_train.txt), frames 3 and 5 are the test queries (robotcar_v2_test.txt, png names as published).

    The images are the 320x240 renderings, not the published 1024x1024, so rear_intrinsics.txt holds the
    renderings' intrinsics (the reader takes the size from the image headers)."""
    stamps = {i: T0_US + 1_000_000 * i for i in range(len(frames))}
    fx, fy, cx, cy = frames[0].camera.params
    width, height = frames[0].camera.width, frames[0].camera.height
    nvm = ["NVM_V3", "", "5"]
    for i in (0, 2, 4, 6):
        _write_jpg(root / "images/overcast-reference/rear" / f"{stamps[i]}.jpg", frames[i].load())
        nvm.append(f"./overcast-reference/rear/{stamps[i]}.png {fx} {_q_c(frames[i].cam_from_world)} 0 0")
    # a side-camera reference in the model: the paper (and the reader) use the rear camera only
    nvm.append(f"./overcast-reference/left/{stamps[0]}.png {fx} {_q_c(frames[0].cam_from_world)} 0 0")
    nvm += ["", "1", "1.0 2.0 3.0 10 20 30 1 0 7 100.5 200.5", "", "0", ""]
    (root / "3D-models/all-merged").mkdir(parents=True)
    (root / "3D-models/all-merged/all.nvm").write_text("\n".join(nvm))
    (root / "intrinsics").mkdir()
    (root / "intrinsics/rear_intrinsics.txt").write_text(f"fx {fx:.6f}\nfy {fy:.6f}\ncx {cx:.6f}\ncy {cy:.6f}\n")
    for i in (1, 3):
        _write_jpg(root / "images/night/rear" / f"{stamps[i]}.jpg", frames[i].load())
    _write_jpg(root / "images/sun/rear" / f"{stamps[5]}.jpg", frames[5].load())
    (root / "queries").mkdir()
    (root / "queries/sun_queries_with_intrinsics.txt").write_text(
        f"sun/rear/{stamps[5]}.jpg SIMPLE_RADIAL {width} {height} {fx} {cx} {cy} 0.0\n")
    world_from_cam = frames[1].cam_from_world.inverse().matrix
    (root / "robotcar_v2_train.txt").write_text(
        f"night/rear/{stamps[1]}.png " + " ".join(f"{v:.12f}" for v in world_from_cam.reshape(-1)) + "\n")
    (root / "robotcar_v2_test.txt").write_text(f"rear/{stamps[3]}.png\nrear/{stamps[5]}.png\n")
    return stamps


def cmu_name(index: int, camera: str) -> str:
    return f"img_{index:05d}_{camera}_{1303398475046031 + 66666 * index}us.jpg"


def make_cmu(root: Path, frames, width: int, params) -> None:
    """Slice 2 (urban): references 0, 2, 4, 6; queries 1, 3 (ground truth for 1 only). Slice 19 (park): reference
    0, 7 and query 5 with ground truth. Camera c0 has the renderings' intrinsics (OPENCV, no distortion)."""
    fx, fy, cx, cy = params
    (root).mkdir(parents=True, exist_ok=True)
    (root / "intrinsics.txt").write_text(
        "# Camera ID, distortion model, image width, image height, fx, fy, cx, cy, k1, k2, p1, p2\n\n"
        f"c0 OPENCV {width} {int(2 * cy)} {fx} {fy} {cx} {cy} 0 0 0 0\n"
        "c1 OPENCV 1024 768 873.382641 876.489513 529.324138 397.272397 -0.397066 0.181925 0.000176 -0.000579\n")
    for number, references, queries, truth in ((2, (0, 2, 4, 6), (1, 3), (1,)), (19, (0, 7), (5,), (5,))):
        folder = root / f"slice{number}"
        db_lines = []
        for i in references:
            _write_jpg(folder / "database" / cmu_name(i, "c0"), frames[i].load())
            db_lines.append(f"{cmu_name(i, 'c0')} {_q_c(frames[i].cam_from_world)}")
        (folder / f"ground-truth-database-images-slice{number}.txt").write_text("\n".join(db_lines) + "\n")
        for i in queries:
            _write_jpg(folder / "query" / cmu_name(i, "c0"), frames[i].load())
        (folder / f"test-images-slice{number}.txt").write_text("".join(cmu_name(i, "c0") + "\n" for i in queries))
        (folder / "camera-poses").mkdir()
        (folder / "camera-poses" / f"slice{number}_query_c0.txt").write_text(
            "".join(f"{cmu_name(i, 'c0')} {_q_c(frames[i].cam_from_world)}\n" for i in truth))
