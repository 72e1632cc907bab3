"""Posed image folders: an image directory plus two text files.

poses file, one line per image (the COLMAP images.txt / visuallocalization.net order):
    NAME QW QX QY QZ TX TY TZ          cam_from_world: x_cam = R(q) x_world + t
intrinsics file, either one line per image or a single line for all images:
    NAME MODEL WIDTH HEIGHT PARAMS...  or  MODEL WIDTH HEIGHT PARAMS...   (COLMAP model names)
Lines starting with # are comments.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from ..frames import Frame
from ..geometry import Camera, Pose
from .images import read_image_rgb


def _lines(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def read_intrinsics(path: str | Path) -> dict[str | None, Camera]:
    """NAME -> Camera, or {None: camera} when the file has a single camera for all images."""
    cameras: dict[str | None, Camera] = {}
    for n, fields in enumerate(_lines(Path(path)), 1):
        try:
            if fields[0].isupper():  # MODEL W H params: one camera for all images
                cameras[None] = Camera(fields[0], int(fields[1]), int(fields[2]), tuple(map(float, fields[3:])))
            else:
                cameras[fields[0]] = Camera(fields[1], int(fields[2]), int(fields[3]), tuple(map(float, fields[4:])))
        except (IndexError, ValueError) as e:
            raise ValueError(f"{path}:{n}: expected '[NAME] MODEL WIDTH HEIGHT PARAMS...': {e}") from e
    if not cameras:
        raise ValueError(f"{path} holds no camera")
    return cameras


def read_poses(path: str | Path) -> dict[str, Pose]:
    poses = {}
    for n, fields in enumerate(_lines(Path(path)), 1):
        if len(fields) != 8:
            raise ValueError(f"{path}:{n}: expected 'NAME QW QX QY QZ TX TY TZ', got {len(fields)} fields")
        try:
            q = np.array(fields[1:5], dtype=np.float64)
            poses[fields[0]] = Pose.from_qvec_tvec(q / np.linalg.norm(q), np.array(fields[5:8], dtype=np.float64))
        except ValueError as e:
            raise ValueError(f"{path}:{n}: {e}") from e
    return poses


def read_posed_images(image_dir: str | Path, poses_file: str | Path, intrinsics_file: str | Path) -> list[Frame]:
    """Frames for every image named in the poses file (sorted by name)."""
    image_dir = Path(image_dir)
    poses = read_poses(poses_file)
    cameras = read_intrinsics(intrinsics_file)
    frames = []
    for name in sorted(poses):
        camera = cameras.get(name, cameras.get(None))
        if camera is None:
            raise ValueError(f"{intrinsics_file} has no camera for {name}")
        if not (image_dir / name).is_file():
            raise FileNotFoundError(f"{image_dir / name} (named in {poses_file}) does not exist")
        frames.append(Frame(name, camera, partial(read_image_rgb, image_dir / name), poses[name]))
    return frames
