"""Build a map from posed reference images (the offline part of the paper's pipeline):
keypoints (SIFT, or SuperPoint as in the paper), matches between spatially close references,
triangulation with the KNOWN poses, sparse hypercolumns at the triangulated keypoints, global
descriptors PCA-whitened on the reference set."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ..config import MapBuilderConfig, to_dict
from ..features import create_extractor
from ..features.keypoints import create_detector
from ..frames import Frame
from ..geometry.epipolar import sampson_error_px
from ..geometry.triangulation import project, triangulate_track
from ..map_format import MapError, SparseMap
from ..matching.nearest_neighbor import mutual_nearest_neighbors
from ..retrieval import PcaWhitening
from .feature_cache import FeatureCache, ReferenceFeatures
from .pairs import pairs_from_poses
from .tracks import build_tracks

log = logging.getLogger(__name__)


@dataclass
class BuildSummary:
    references: int
    points3D: int
    keypoints: int
    mean_reprojection_error_px: float
    pairs: int
    map_bytes: int = 0

    def __str__(self) -> str:
        return (f"{self.references} reference images, {self.pairs} matched pairs, {self.points3D} 3D points, "
                f"{self.keypoints} map keypoints, mean reprojection error {self.mean_reprojection_error_px:.2f} px"
                + (f", {self.map_bytes / 1e6:.1f} MB on disk" if self.map_bytes else ""))


def build_map(frames: Sequence[Frame], config: MapBuilderConfig | None = None, output_dir: str | Path | None = None,
              metadata: dict | None = None, frame_id: str = "map", progress: bool = True,
              cache_dir: str | Path | None = None) -> tuple[SparseMap, BuildSummary]:
    """Build (and, with `output_dir`, atomically save) a map from frames with known `cam_from_world`.

    Features are cached per frame in `cache_dir` (default: a hidden sibling of `output_dir`), so a
    build that was interrupted resumes where it stopped; the cache is removed after success.
    """
    config = config or MapBuilderConfig()
    _check_frames(frames)
    extractor = create_extractor(config.features)
    detector = create_detector(config)
    cache = None
    if cache_dir is None and output_dir is not None:
        cache_dir = Path(output_dir).parent / f".{Path(output_dir).name}.features"
    if cache_dir is not None:
        cache = FeatureCache(Path(cache_dir), {"fingerprint": extractor.fingerprint(), "detector": config.detector,
                                               "max_keypoints": config.max_keypoints,
                                               "detection_max_image_size": config.detection_max_image_size,
                                               "source": (metadata or {}).get("source"),
                                               "frames": _frames_identity(frames)})
    features = [_extract(frame, extractor, detector, cache)
                for frame in tqdm(frames, desc="features", unit="img", disable=not progress)]

    poses = [f.cam_from_world for f in frames]
    cameras = [f.camera for f in frames]
    pairs = pairs_from_poses(poses, config.num_pair_neighbors, config.pair_max_distance_m, config.pair_max_angle_deg)
    matches = {}
    for i, j in tqdm(pairs, desc="matching", unit="pair", disable=not progress):
        m = mutual_nearest_neighbors(features[i].local_descriptors, features[j].local_descriptors)
        if len(m):
            err = sampson_error_px(features[i].keypoints[m[:, 0]], features[j].keypoints[m[:, 1]],
                                   cameras[i], cameras[j], poses[i], poses[j])
            m = m[err <= config.triangulation_max_reproj_error_px]
        matches[(i, j)] = m

    tracks = build_tracks([len(f.keypoints) for f in features], matches)
    points, observations, errors = [], [], []
    for track in tqdm(tracks, desc="triangulation", unit="track", disable=not progress):
        xy = np.array([features[img].keypoints[kp] for img, kp in track])
        result = triangulate_track(xy, [poses[img] for img, _ in track], [cameras[img] for img, _ in track],
                                   config.triangulation_max_reproj_error_px, config.triangulation_min_angle_deg)
        if result is None:
            continue
        xyz, inliers = result
        kept = [obs for obs, ok in zip(track, inliers) if ok]
        for img, kp in kept:
            uv, depth = project(xyz[None], poses[img], cameras[img])
            errors.append(float(np.linalg.norm(uv[0] - features[img].keypoints[kp])))
        observations.append(kept)
        points.append(xyz)
    if not points:
        raise MapError("no 3D point could be triangulated: are the poses right, and do the images overlap? "
                       f"({len(frames)} images, {len(pairs)} pairs, {sum(len(m) for m in matches.values())} matches)")

    sparse_map = _assemble(frames, features, np.array(points), observations, config, frame_id,
                           extractor.name, extractor.fingerprint(), metadata)
    summary = BuildSummary(len(frames), len(points), int(len(sparse_map.keypoints)),
                           float(np.mean(errors)), len(pairs))
    if output_dir is not None:
        path = sparse_map.save(output_dir)
        summary.map_bytes = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if cache is not None:
            cache.remove()
    log.info("map built: %s", summary)
    return sparse_map, summary


def _check_frames(frames: Sequence[Frame]) -> None:
    if len(frames) < 2:
        raise MapError(f"a map needs at least 2 posed reference images, got {len(frames)}")
    names = [f.name for f in frames]
    if len(set(names)) != len(names):
        raise MapError("reference image names must be unique")
    missing = [f.name for f in frames if f.cam_from_world is None]
    if missing:
        raise MapError(f"{len(missing)} reference images have no pose (e.g. {missing[0]}); maps need known poses")


def _frames_identity(frames: Sequence[Frame]) -> str:
    """Names and image sizes of the frames: a resumed build must be of the same images."""
    listing = "\n".join(f"{f.name} {f.camera.width}x{f.camera.height}" for f in frames)
    return hashlib.sha256(listing.encode()).hexdigest()


def _extract(frame: Frame, extractor, detector, cache: FeatureCache | None) -> ReferenceFeatures:
    cached = cache.get(frame.name) if cache is not None else None
    if cached is not None:
        return cached
    image = frame.load()
    if image.shape[0] != frame.camera.height or image.shape[1] != frame.camera.width:
        raise MapError(f"{frame.name}: image is {image.shape[1]}x{image.shape[0]} but its camera says "
                       f"{frame.camera.width}x{frame.camera.height}")
    keypoints, local = detector.detect(image)
    dense = extractor.extract(image)
    sparse = dense.sample(keypoints).half().cpu().numpy() if len(keypoints) else \
        np.zeros((0, dense.hypercolumns.shape[0]), np.float16)
    features = ReferenceFeatures(keypoints, local, sparse, dense.global_descriptor.float().cpu().numpy())
    if cache is not None:
        cache.put(frame.name, features)
    return features


def _assemble(frames, features, points3D, observations, config, frame_id, backbone, fingerprint,
              metadata) -> SparseMap:
    """Keep, per reference, only the keypoints that observe a triangulated point."""
    per_image: dict[int, list[tuple[int, int]]] = {}
    for p, obs in enumerate(observations):
        for img, kp in obs:
            per_image.setdefault(img, []).append((kp, p))
    keypoints, point_index, descriptors, offsets = [], [], [], [0]
    for img, feats in enumerate(features):
        rows = sorted(per_image.get(img, []))
        kps = np.array([kp for kp, _ in rows], dtype=np.int64)
        keypoints.append(feats.keypoints[kps].reshape(-1, 2))
        point_index.append(np.array([p for _, p in rows], dtype=np.int64))
        descriptors.append(feats.sparse_hypercolumns[kps].reshape(len(kps), -1))
        offsets.append(offsets[-1] + len(kps))
    globals_ = np.stack([f.global_descriptor for f in features])
    pca = PcaWhitening.fit(globals_, config.pca_dim, whiten=config.pca_whitening)
    return SparseMap(
        frame_id=frame_id, backbone=backbone, fingerprint=fingerprint,
        reference_names=[f.name for f in frames], cameras=[f.camera for f in frames],
        cam_from_world=[f.cam_from_world for f in frames],
        keypoints=np.concatenate(keypoints).astype(np.float64), point_index=np.concatenate(point_index),
        descriptors=np.concatenate(descriptors).astype(np.float16), offsets=np.array(offsets, dtype=np.int64),
        points3D=points3D.astype(np.float64), global_descriptors=pca(globals_), pca=pca,
        metadata={"builder": to_dict(config), **(metadata or {})}, storage=config.storage)
