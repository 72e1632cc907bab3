"""Epipolar verification of matches between two images with KNOWN poses."""
from __future__ import annotations

import numpy as np

from .camera import Camera
from .pose import Pose


def skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])


def normalized_coordinates(xy: np.ndarray, camera: Camera) -> np.ndarray:
    """(N, 2) pixels -> (N, 2) undistorted normalised image coordinates (z = 1 plane)."""
    if len(xy) == 0:
        return np.zeros((0, 2))
    return np.asarray(camera.to_pycolmap().cam_from_img(np.ascontiguousarray(xy, dtype=np.float64)))[:, :2]


def sampson_error_px(xy0: np.ndarray, xy1: np.ndarray, cam0: Camera, cam1: Camera,
                     cam0_from_world: Pose, cam1_from_world: Pose) -> np.ndarray:
    """Sampson distance of each match to the epipolar geometry implied by the poses, in pixels
    (computed on undistorted normalised coordinates and scaled by the mean focal length)."""
    rel = cam1_from_world * cam0_from_world.inverse()  # cam1_from_cam0
    E = skew(rel.t) @ rel.R
    x0 = np.concatenate([normalized_coordinates(xy0, cam0), np.ones((len(xy0), 1))], axis=1)
    x1 = np.concatenate([normalized_coordinates(xy1, cam1), np.ones((len(xy1), 1))], axis=1)
    Ex0 = x0 @ E.T
    Etx1 = x1 @ E
    num = np.sum(x1 * Ex0, axis=1) ** 2
    den = Ex0[:, 0] ** 2 + Ex0[:, 1] ** 2 + Etx1[:, 0] ** 2 + Etx1[:, 1] ** 2
    focal = 0.25 * (cam0.K[0, 0] + cam0.K[1, 1] + cam1.K[0, 0] + cam1.K[1, 1])
    return np.sqrt(num / np.maximum(den, 1e-18)) * focal
