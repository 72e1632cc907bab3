"""Query image + intrinsics -> 6-DoF pose in the map frame: the online part of the paper's pipeline.

    dense query features (one backbone forward)
    -> retrieval of the top-N references (PCA-whitened global descriptors, faiss), optionally among given
       candidates only (the references near a pose prior: `references_near`)
    -> sparse-to-dense matching of all their map keypoints (one batched correlation) + ratio test
    -> PnP + LO-RANSAC per reference, keep the pose with the most inliers (>= min_inliers)
    -> that pose refined on its inliers, one per query feature-grid cell, and its covariance from them
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .config import LocalizerConfig
from .features import create_extractor
from .features.base import DenseExtractor, DenseFeatures
from .features.keypoints import SiftDetector
from .geometry import Camera, Pose
from .geometry.absolute_pose import AbsolutePose, estimate_absolute_pose, one_per_cell, pose_covariance, \
    refine_absolute_pose, reprojection_errors
from .map_format import REBUILD, MapError, SparseMap, camera_centers
from .matching import match_sparse_to_dense
from .matching.sparse_to_sparse import match_sparse_to_sparse
from .retrieval import search

# Keys of LocalizationResult.timings, in pipeline order (the paper's Table 4 columns + retrieval, total).
STAGES = ("dense_features", "retrieval", "correspondence_maps", "ratio_test", "subcell_refinement", "pnp", "total")


@dataclass
class LocalizationResult:
    success: bool
    cam_from_world: Pose | None = None
    # (6, 6) covariance of cam_from_world over pycolmap's tangent (runtime/pose_output.py), for a pixel noise of
    # `pixel_noise_px`, one observation per query feature-grid cell
    covariance: np.ndarray | None = None
    num_inliers: int = 0  # distinct query pixels among the PnP inliers
    reference: str | None = None  # name of the reference image whose matches gave the pose
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (STAGES)
    failure_reason: str | None = None
    inlier_points2D: np.ndarray | None = None  # (K, 2) query pixels of the inlier matches
    retrieved: list[str] = field(default_factory=list)
    num_matches: int = 0  # 2D-3D matches that passed the ratio test, over all retrieved references
    retrieval_scores: list[float] = field(default_factory=list)  # cosine similarity of each of `retrieved`
    pixel_noise_px: float | None = None  # the pixel noise (std) the covariance assumes
    num_candidates: int | None = None  # references retrieval chose from: None = the whole map

    @property
    def reference_score(self) -> float | None:
        """Retrieval similarity of the reference that gave the pose."""
        return self.retrieval_scores[self.retrieved.index(self.reference)] if self.reference in self.retrieved \
            else None


@dataclass
class _Candidates:
    """2D-3D matches of the retrieved references, grouped by reference."""

    reference_ids: list[int]
    points2D: list[np.ndarray]
    points3D: list[np.ndarray]


def _fingerprint_advice(same_backbone: bool) -> str:
    """Same name but another fingerprint is most often a map from an older version of the package."""
    if same_backbone:
        return ("its descriptors differ from this one's (weights, max_image_size, or a map made by an older "
                "version of the package, e.g. dense_sift before its torch implementation): " + REBUILD)
    return "use the same backbone, weights and max_image_size as the map, or rebuild the map"


class Localizer:
    def __init__(self, sparse_map: SparseMap, config: LocalizerConfig | None = None,
                 extractor: DenseExtractor | None = None):
        self.config = config or LocalizerConfig()
        self.map = sparse_map
        self.extractor = extractor or create_extractor(self.config.features)
        if self.extractor.fingerprint() != sparse_map.fingerprint:
            raise MapError(f"the map was built with backbone {sparse_map.backbone} ({sparse_map.fingerprint}) but "
                           f"the localizer uses {self.extractor.name} ({self.extractor.fingerprint()}): "
                           + _fingerprint_advice(sparse_map.backbone == self.extractor.name))
        self._detector = SiftDetector() if self.config.matcher.method == "sparse_to_sparse" else None
        self._reference_centers = camera_centers(sparse_map.cam_from_world)  # (R, 3)

    @classmethod
    def from_map(cls, map_dir: str | Path, config: LocalizerConfig | None = None) -> "Localizer":
        return cls(SparseMap.load(map_dir), config)

    def references_near(self, position: np.ndarray, radius_m: float,
                        axes: Sequence[int] = (0, 1, 2)) -> np.ndarray:
        """Ids of the references whose camera centre lies within `radius_m` of `position` (map frame, (3,)),
        measured over the coordinate `axes` only (e.g. (0, 1) when a prior leaves the height unknown)."""
        axes = list(axes)
        offsets = self._reference_centers[:, axes] - np.asarray(position, dtype=np.float64)[axes]
        return np.flatnonzero(np.linalg.norm(offsets, axis=1) <= radius_m)

    def localize(self, image: np.ndarray, camera: Camera,
                 candidates: Sequence[int] | None = None) -> LocalizationResult:
        """image: RGB uint8 (H, W, 3) matching `camera`'s size; camera: the query's own intrinsics;
        candidates: reference ids that retrieval may choose from (None: the whole map; empty: fails at once)."""
        _check_query(image, camera)
        if candidates is not None:
            candidates = np.unique(np.asarray(candidates, dtype=np.int64))
            if len(candidates) and (candidates[0] < 0 or candidates[-1] >= self.map.num_references):
                raise ValueError(f"candidate reference ids must be in [0, {self.map.num_references}), "
                                 f"got {candidates[0]}..{candidates[-1]}")
            if not len(candidates):
                return LocalizationResult(False, timings=dict.fromkeys(STAGES, 0.0), num_candidates=0,
                                          failure_reason="no candidate reference (none near the prior)")
        timings = dict.fromkeys(STAGES, 0.0)
        start = time.perf_counter()
        features = self.extractor.extract(image)
        _sync(features.hypercolumns.device)
        timings["dense_features"] = time.perf_counter() - start

        t = time.perf_counter()
        query_global = self.map.pca(features.global_descriptor.float().cpu().numpy()[None])[0]
        ref_ids, scores = self._retrieve(query_global, candidates)
        timings["retrieval"] = time.perf_counter() - t
        retrieved = [self.map.reference_names[r] for r in ref_ids]
        num_candidates = None if candidates is None else len(candidates)

        matches = self._match(features, image, [int(r) for r in ref_ids], timings)
        t = time.perf_counter()
        cell = np.array([features.stride / features.scale[0], features.stride / features.scale[1]])
        max_error_px = self.config.pose.ransac_max_error_px or self.config.pose.ransac_max_error_cells * cell.mean()
        best, best_ref = None, None
        for r, xy, xyz in zip(matches.reference_ids, matches.points2D, matches.points3D):
            estimate = _distinct_support(estimate_absolute_pose(xy, xyz, camera, self.config.pose, max_error_px),
                                         xy, cell)
            if estimate is not None and estimate.num_inliers >= self.config.pose.min_inliers and (
                    best is None or estimate.num_inliers > best.num_inliers):
                best, best_ref = estimate, r
        num_matches = int(sum(len(x) for x in matches.points2D))
        common = dict(retrieved=retrieved, num_matches=num_matches, retrieval_scores=[float(x) for x in scores],
                      num_candidates=num_candidates)
        if best is None:
            timings["pnp"] = time.perf_counter() - t
            timings["total"] = time.perf_counter() - start
            return LocalizationResult(False, timings=timings, **common,
                                      failure_reason=f"no reference gave a pose with >= {self.config.pose.min_inliers} "
                                                     f"inliers ({num_matches} matches passed the ratio test)")
        i = matches.reference_ids.index(best_ref)
        xy, xyz = matches.points2D[i][best.inlier_mask], matches.points3D[i][best.inlier_mask]
        noise_cells = self.config.pose.noise_cells(self.config.features, max(camera.width, camera.height))
        noise_px = self.config.pose.covariance_pixel_noise_px or noise_cells * float(cell.mean())
        keep = one_per_cell(xy, cell, reprojection_errors(best.cam_from_world, xy, xyz, camera))
        cam_from_world = refine_absolute_pose(best.cam_from_world, xy[keep], xyz[keep], camera, max_error_px)
        covariance = pose_covariance(cam_from_world, xy[keep], xyz[keep], camera, noise_px)
        timings["pnp"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - start
        return LocalizationResult(True, cam_from_world, covariance, best.num_inliers,
                                  self.map.reference_names[best_ref], timings, None, xy, pixel_noise_px=noise_px,
                                  **common)

    def _retrieve(self, query_global: np.ndarray, candidates: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Top-N reference ids and their similarities, over the whole map (faiss) or among `candidates`."""
        n = self.config.retrieval.num_references
        if candidates is None:
            return search(self.map.index, query_global, n, self.config.retrieval.ivf_nprobe)
        scores = self.map.global_descriptors[candidates].astype(np.float32) @ query_global.astype(np.float32)
        best = np.argsort(-scores, kind="stable")[:n]
        return candidates[best], scores[best]

    def _match(self, features: DenseFeatures, image: np.ndarray, ref_ids: list[int],
               timings: dict[str, float]) -> _Candidates:
        rows = self.map.reference_rows(ref_ids)
        owner = np.concatenate([np.full(self.map.offsets[r + 1] - self.map.offsets[r], i)
                                for i, r in enumerate(ref_ids)])
        # Only the retrieved references' rows are read (from disk for an opened map), kept on the CPU and moved to
        # the device chunk by chunk by the matcher (a large map need not fit in memory, nor on the GPU).
        descriptors = torch.from_numpy(self.map.local_descriptors(rows))
        if self.config.matcher.method == "sparse_to_sparse":
            t = time.perf_counter()
            query_keypoints, _ = self._detector.detect(image)
            matched, xy = match_sparse_to_sparse(descriptors, query_keypoints, features)
            timings["correspondence_maps"] = time.perf_counter() - t
        elif self.config.matcher.method == "sparse_to_dense":
            dense = match_sparse_to_dense(descriptors, features.hypercolumns, self.config.matcher)
            timings.update(dense.timings)
            keep = dense.keep.cpu()
            matched = np.flatnonzero(keep.numpy())
            xy = features.grid_to_pixels(dense.rows.cpu()[keep], dense.cols.cpu()[keep]).numpy()
        else:
            raise ValueError(f"unknown matcher.method {self.config.matcher.method!r}; "
                             "choose 'sparse_to_dense' or 'sparse_to_sparse'")
        xyz = self.map.keypoint_points3D(rows[matched])
        groups = owner[matched]
        return _Candidates(ref_ids, [xy[groups == i] for i in range(len(ref_ids))],
                           [xyz[groups == i] for i in range(len(ref_ids))])


def _distinct_support(estimate: AbsolutePose | None, points2D: np.ndarray, cell_px: np.ndarray
                      ) -> AbsolutePose | None:
    """Count an estimate's inliers as DISTINCT query feature-grid cells (cell_px: cell size in pixels).

    Sparse-to-dense matching can send many map keypoints to the same few query cells (a flat, dark
    region at night). A degenerate pose that projects them all near there then "explains" thousands
    of matches: measured with random VGG16 features at night on fountain-P11, 1761 inliers (204
    distinct pixels) with the pose 6-10 km off. The matcher cannot tell points apart more finely
    than a cell, so support is counted in cells, and such a pose fails the min_inliers test.
    """
    if estimate is None:
        return None
    return dataclasses.replace(estimate, num_inliers=len(one_per_cell(points2D[estimate.inlier_mask], cell_px)))


def _check_query(image: np.ndarray, camera: Camera) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("query image must be an RGB uint8 array of shape (H, W, 3), got "
                         f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}")
    if image.shape[0] != camera.height or image.shape[1] != camera.width:
        raise ValueError(f"query image is {image.shape[1]}x{image.shape[0]} but its camera (CameraInfo) says "
                         f"{camera.width}x{camera.height}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
