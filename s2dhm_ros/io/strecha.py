"""Reader of the Strecha multi-view benchmark layout (fountain-P11, entry-P10; ../shared/data/README.md):
images/NNNN.jpg and gt_dense_cameras/NNNN.jpg.camera with K, distortion (zero), R (camera-to-world),
camera centre C and the image size."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from ..frames import Frame
from ..geometry import Camera, Pose
from .images import read_image_rgb



def read_camera_file(path: Path) -> tuple[Camera, Pose]:
    """A .camera file -> (camera, cam_from_world)."""
    values = np.array(path.read_text().split(), dtype=np.float64)
    if len(values) != 26:
        raise ValueError(f"{path}: expected 26 numbers (K, distortion, R, C, width, height), got {len(values)}")
    K = values[:9].reshape(3, 3)
    R_world_from_cam = values[12:21].reshape(3, 3)
    center = values[21:24]
    width, height = int(values[24]), int(values[25])
    R = R_world_from_cam.T
    return Camera.pinhole(K, width, height), Pose(R, -R @ center)


def read_strecha_scene(root: str | Path) -> list[Frame]:
    """All views of one scene, sorted by name, with their ground-truth cam_from_world."""
    root = Path(root)
    camera_dir = root / "gt_dense_cameras"
    if not camera_dir.is_dir():
        raise FileNotFoundError(f"{root} is not a Strecha scene folder (no gt_dense_cameras/); "
                                "see ../shared/data/README.md for the layout")
    frames = []
    for camera_file in sorted(camera_dir.glob("*.camera")):
        name = camera_file.name[: -len(".camera")]
        camera, pose = read_camera_file(camera_file)
        frames.append(Frame(name, camera, partial(read_image_rgb, root / "images" / name), pose))
    if not frames:
        raise FileNotFoundError(f"no .camera files in {camera_dir}")
    return frames
