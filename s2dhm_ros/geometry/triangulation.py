"""Triangulation of feature tracks with KNOWN camera poses (as the paper does with COLMAP)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycolmap

from .camera import Camera
from .pose import Pose


def _triangulation_options(max_reproj_error_px: float, min_angle_deg: float) -> pycolmap.EstimateTriangulationOptions:
    options = pycolmap.EstimateTriangulationOptions()
    options.min_tri_angle = np.radians(min_angle_deg)
    options.residual_type = pycolmap.TriangulationResidualType.REPROJECTION_ERROR
    options.ransac.max_error = max_reproj_error_px
    options.ransac.random_seed = 0  # the same track gives the same point on every machine and in every batch
    return options


def _estimate(points2D: np.ndarray, rigids: list, cameras: list, options) -> tuple[np.ndarray, np.ndarray] | None:
    result = pycolmap.estimate_triangulation(np.asarray(points2D, dtype=np.float64), rigids, cameras, options)
    if result is None:
        return None
    inliers = np.asarray(result["inliers"], dtype=bool)
    if inliers.sum() < 2:
        return None
    return np.asarray(result["xyz"], dtype=np.float64).reshape(3), inliers


def triangulate_track(points2D: np.ndarray, poses: list[Pose], cameras: list[Camera],
                      max_reproj_error_px: float, min_angle_deg: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Robustly triangulate one track (>= 2 observations) with pycolmap's LO-RANSAC.

    Returns the 3D point and the inlier mask of the observations, or None when no point with
    at least two inlier views, the minimum triangulation angle and positive depth exists.
    """
    return _estimate(points2D, [p.to_rigid3d() for p in poses], [c.to_pycolmap() for c in cameras],
                     _triangulation_options(max_reproj_error_px, min_angle_deg))


@dataclass
class TrackBatch:
    """Tracks to triangulate, self-contained so that a batch can be shipped to another machine.
    Track t has observations offsets[t]:offsets[t+1] of `points2D` (pixels) seen by images `image`."""

    points2D: np.ndarray  # (N, 2) float64
    image: np.ndarray  # (N,) int64 image ids
    offsets: np.ndarray  # (T+1,) int64
    poses: dict[int, Pose]  # cam_from_world of every image in `image`
    cameras: dict[int, Camera]


@dataclass
class TriangulatedBatch:
    points3D: np.ndarray  # (T, 3) float64, NaN where a track gave no point
    inliers: np.ndarray  # (N,) bool: observation is an inlier of its track's point
    reprojection_error_px: np.ndarray  # (N,) float64, NaN for outliers

    @property
    def triangulated(self) -> np.ndarray:
        """(T,) bool: tracks that gave a point."""
        return np.isfinite(self.points3D[:, 0])


def triangulate_tracks(batch: TrackBatch, max_reproj_error_px: float, min_angle_deg: float) -> TriangulatedBatch:
    """Triangulate every track of the batch (pycolmap LO-RANSAC per track, seeded, so a track's result does not
    depend on the batch it is in), then reproject the inliers with their cameras' full models, one image at a time."""
    options = _triangulation_options(max_reproj_error_px, min_angle_deg)
    rigids = {i: p.to_rigid3d() for i, p in batch.poses.items()}
    cameras = {i: c.to_pycolmap() for i, c in batch.cameras.items()}
    T, N = len(batch.offsets) - 1, len(batch.image)
    points3D = np.full((T, 3), np.nan)
    inliers = np.zeros(N, bool)
    images = batch.image.tolist()
    for t in range(T):
        a, b = int(batch.offsets[t]), int(batch.offsets[t + 1])
        ids = images[a:b]
        result = _estimate(batch.points2D[a:b], [rigids[i] for i in ids], [cameras[i] for i in ids], options)
        if result is not None:
            points3D[t], inliers[a:b] = result
    track_of = np.repeat(np.arange(T), np.diff(batch.offsets))
    errors = np.full(N, np.nan)
    rows_all = np.flatnonzero(inliers)
    rows_all = rows_all[np.argsort(batch.image[rows_all], kind="stable")]
    starts = np.flatnonzero(np.diff(batch.image[rows_all], prepend=-1))
    for rows in np.split(rows_all, starts[1:]):
        if not len(rows):
            continue
        img = int(batch.image[rows[0]])
        uv, _ = project(points3D[track_of[rows]], batch.poses[img], batch.cameras[img])
        errors[rows] = np.linalg.norm(uv - batch.points2D[rows], axis=1)
    return TriangulatedBatch(points3D, inliers, errors)


def project(points3D: np.ndarray, cam_from_world: Pose, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Project (N, 3) world points with the camera's full model. Returns (N, 2) pixels and (N,) depths."""
    cam = np.ascontiguousarray(cam_from_world.transform(points3D), dtype=np.float64)
    pixels = camera.to_pycolmap().img_from_cam(cam, check_cheirality=False)
    return np.asarray(pixels), cam[:, 2]
