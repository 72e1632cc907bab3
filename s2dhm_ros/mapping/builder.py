"""Build a map from posed reference images (the offline part of the paper's pipeline):
keypoints (SIFT, or SuperPoint as in the paper), matches between spatially close references,
triangulation with the KNOWN poses, sparse hypercolumns at the triangulated keypoints, global
descriptors PCA-whitened on the reference set.

Feature extraction, matching and triangulation are independent tasks over fixed work items (one image, a
fixed-size chunk of pairs, a fixed-size chunk of tracks) run by an `Engine`: here, or sharded over a Dask
cluster. Their results are merged in item order, so both give the same arrays."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..config import MapBuilderConfig, MapStorageConfig, to_dict
from ..features import create_extractor
from ..features.keypoints import create_detector
from ..frames import Frame
from ..geometry import Camera, Pose
from ..geometry.epipolar import sampson_error_px
from ..geometry.triangulation import TrackBatch, triangulate_tracks
from ..descriptor_codec import DescriptorCodec, fit_rows
from ..map_format import MapError, SparseMap, fit_descriptor_codec
from ..matching.nearest_neighbor import mutual_nearest_neighbors
from ..retrieval import PcaWhitening
from .engine import Engine, LocalEngine
from .feature_cache import FeatureCache, FeatureStore, ReferenceFeatures
from .pairs import pairs_from_poses
from .stages import StageMeter, StageTiming
from .tracks import Tracks, build_tracks

log = logging.getLogger(__name__)

PAIRS_PER_TASK = 64  # work items of the matching stage (fixed: the merged result must not depend on the engine)
TRACKS_PER_TASK = 4096  # work items of the triangulation stage


@dataclass
class BuildSummary:
    references: int
    points3D: int
    keypoints: int
    mean_reprojection_error_px: float
    pairs: int
    map_bytes: int = 0
    stages: list[StageTiming] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{self.references} reference images, {self.pairs} matched pairs, {self.points3D} 3D points, "
                f"{self.keypoints} map keypoints, mean reprojection error {self.mean_reprojection_error_px:.2f} px"
                + (f", {self.map_bytes / 1e6:.1f} MB on disk" if self.map_bytes else ""))


def build_map(frames: Sequence[Frame], config: MapBuilderConfig | None = None, output_dir: str | Path | None = None,
              metadata: dict | None = None, frame_id: str = "map", progress: bool = True,
              cache_dir: str | Path | None = None, engine: Engine | None = None) -> tuple[SparseMap, BuildSummary]:
    """Build (and, with `output_dir`, atomically save) a map from frames with known `cam_from_world`.

    Features are cached per frame on disk, so a build that was interrupted resumes where it stopped. The
    default cache is a hidden sibling of `output_dir`, removed after success; a `cache_dir` given explicitly is
    kept, so that a rebuild with other matching or triangulation settings extracts nothing again.
    `engine` runs the extraction, matching and triangulation tasks (default: in this process).
    """
    config = config or MapBuilderConfig()
    engine = engine or LocalEngine()
    _check_frames(frames)
    meter = StageMeter()
    extractor = create_extractor(config.features)  # here only for its identity; tasks make their own
    fingerprint = extractor.fingerprint()
    keep_cache = cache_dir is not None
    if cache_dir is None and output_dir is not None:
        cache_dir = Path(output_dir).parent / f".{Path(output_dir).name}.features"
    cache = None
    if cache_dir is not None:
        cache = FeatureCache(Path(cache_dir), cache_settings(config, fingerprint, metadata))
    store = FeatureStore([cache_key(f) for f in frames], cache)
    poses = [f.cam_from_world for f in frames]
    cameras = [f.camera for f in frames]

    with meter.stage("features"):
        missing = [i for i in range(len(frames)) if not store.load_cached(i)]
        results = engine.map(extract_reference_features, [frames[i] for i in missing], config=config)
        for i, features in zip(missing, tqdm(results, total=len(missing), desc="features", unit="img",
                                            disable=not progress)):
            store.add(i, features)
    with meter.stage("pairs"):
        pairs = pairs_from_poses(poses, config.num_pair_neighbors, config.pair_max_distance_m,
                                 config.pair_max_angle_deg)
    with meter.stage("matching"):
        matches = {}
        chunks = [pairs[a:a + PAIRS_PER_TASK] for a in range(0, len(pairs), PAIRS_PER_TASK)]
        batches = (_pair_batch(chunk, store, poses, cameras) for chunk in chunks)
        with tqdm(total=len(pairs), desc="matching", unit="pair", disable=not progress) as bar:
            for chunk, found in zip(chunks, engine.map(match_pairs, batches,
                                                       max_error_px=config.triangulation_max_reproj_error_px)):
                matches.update(zip(chunk, found))
                bar.update(len(chunk))
    with meter.stage("tracks"):
        tracks = build_tracks([len(k) for k in store.keypoints], matches)
        del matches
    with meter.stage("triangulation"):
        points3D, observations, errors = _triangulate(tracks, store, poses, cameras, config, engine, progress)
    if not len(points3D):
        raise MapError("no 3D point could be triangulated: are the poses right, and do the images overlap? "
                       f"({len(frames)} images, {len(pairs)} pairs, {len(tracks)} tracks)")
    with meter.stage("assembly"):
        sparse_map = _assemble(frames, store, points3D, observations, config, frame_id,
                               extractor.name, fingerprint, metadata, progress)
    summary = BuildSummary(len(frames), len(points3D), int(len(sparse_map.keypoints)), float(np.mean(errors)),
                           len(pairs), stages=meter.stages)
    if output_dir is not None:
        with meter.stage("save"):
            path = sparse_map.save(output_dir)
        summary.map_bytes = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if cache is not None and not keep_cache:
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


def cache_settings(config: MapBuilderConfig, fingerprint: str, metadata: dict | None) -> dict:
    """What identifies a cache: the backbone, the detector settings and the source (e.g. the bag's size and
    mtime). Not the set of frames: each image's features are filed under its name and size (`cache_key`), so
    builds over different subsets of the same images share them (leave-one-out builds one map per view)."""
    return {"fingerprint": fingerprint, "detector": config.detector, "max_keypoints": config.max_keypoints,
            "detection_max_image_size": config.detection_max_image_size,
            "source": (metadata or {}).get("source")}


def cache_key(frame: Frame) -> str:
    """A frame's entry in the feature cache: its name and image size (a resumed build must be of the same images)."""
    return f"{frame.name}.{frame.camera.width}x{frame.camera.height}"


_MODELS: dict[str, tuple] = {}  # per process (and per worker): the backbone and detector, loaded once


def extract_reference_features(frame: Frame, config: MapBuilderConfig) -> ReferenceFeatures:
    """Keypoints, their detector descriptors and sparse hypercolumns, and the global descriptor of one image
    (a task: runs wherever the engine sends it)."""
    key = repr(config)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = (create_extractor(config.features), create_detector(config))
    extractor, detector = _MODELS[key]
    image = frame.load()
    if image.shape[0] != frame.camera.height or image.shape[1] != frame.camera.width:
        raise MapError(f"{frame.name}: image is {image.shape[1]}x{image.shape[0]} but its camera says "
                       f"{frame.camera.width}x{frame.camera.height}")
    keypoints, local = detector.detect(image)
    dense = extractor.extract(image)
    sparse = dense.sample(keypoints).half().cpu().numpy() if len(keypoints) else \
        np.zeros((0, dense.hypercolumns.shape[0]), np.float16)
    return ReferenceFeatures(keypoints, local, sparse, dense.global_descriptor.float().cpu().numpy())


@dataclass
class PairBatch:
    """Pairs to match with what matching them needs, self-contained for shipping to another machine."""

    pairs: list[tuple[int, int]]
    descriptors: dict[int, np.ndarray]
    keypoints: dict[int, np.ndarray]
    poses: dict[int, Pose]
    cameras: dict[int, Camera]


def _pair_batch(pairs: list[tuple[int, int]], store: FeatureStore, poses: list[Pose],
                cameras: list[Camera]) -> PairBatch:
    images = sorted({i for pair in pairs for i in pair})
    return PairBatch(pairs, {i: store.get(i, "local_descriptors") for i in images},
                     {i: store.keypoints[i] for i in images}, {i: poses[i] for i in images},
                     {i: cameras[i] for i in images})


def match_pairs(batch: PairBatch, max_error_px: float) -> list[np.ndarray]:
    """Mutual nearest neighbours of each pair, kept when within `max_error_px` of the epipolar geometry of the
    known poses (Sampson distance). Returns one (K, 2) keypoint index array per pair.

    Torch runs single-threaded here, in every engine: a pair is a small problem (measured on 2 busy cores, 585
    keypoints: 7 ms with 1 thread, 122 ms with 2), pairs run in parallel on the engine's workers instead, and
    one thread count everywhere keeps the float results of a sharded build equal to a local one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = []
        for i, j in batch.pairs:
            m = mutual_nearest_neighbors(batch.descriptors[i], batch.descriptors[j])
            if len(m):
                err = sampson_error_px(batch.keypoints[i][m[:, 0]], batch.keypoints[j][m[:, 1]],
                                       batch.cameras[i], batch.cameras[j], batch.poses[i], batch.poses[j])
                m = m[err <= max_error_px]
            out.append(m.astype(np.int32))  # keypoint indices: half the memory of int64 over millions of matches
        return out
    finally:
        torch.set_num_threads(threads)


def _triangulate(tracks: Tracks, store: FeatureStore, poses: list[Pose], cameras: list[Camera],
                 config: MapBuilderConfig, engine: Engine, progress: bool):
    """Triangulate all tracks in fixed chunks. Returns points (M, 3), the inlier observations as
    (image, keypoint, point) int64 arrays, and their reprojection errors (K,)."""
    points2D = np.zeros((len(tracks.image), 2))
    by_image = np.argsort(tracks.image, kind="stable")
    bounds = np.searchsorted(tracks.image[by_image], np.arange(len(poses) + 1))
    for img in range(len(poses)):
        rows = by_image[bounds[img]:bounds[img + 1]]
        points2D[rows] = store.keypoints[img][tracks.keypoint[rows]]
    starts = list(range(0, len(tracks), TRACKS_PER_TASK))

    def batch(t0: int) -> TrackBatch:
        t1 = min(t0 + TRACKS_PER_TASK, len(tracks))
        a, b = int(tracks.offsets[t0]), int(tracks.offsets[t1])
        ids = np.unique(tracks.image[a:b]).tolist()
        return TrackBatch(points2D[a:b], tracks.image[a:b], tracks.offsets[t0:t1 + 1] - a,
                          {i: poses[i] for i in ids}, {i: cameras[i] for i in ids})

    points, inliers, errors = [], [], []
    results = engine.map(triangulate_tracks, (batch(t0) for t0 in starts),
                         max_reproj_error_px=config.triangulation_max_reproj_error_px,
                         min_angle_deg=config.triangulation_min_angle_deg)
    with tqdm(total=len(tracks), desc="triangulation", unit="track", disable=not progress) as bar:
        for t0, result in zip(starts, results):
            points.append(result.points3D)
            inliers.append(result.inliers)
            errors.append(result.reprojection_error_px)
            bar.update(len(result.points3D))
    if not points:
        return np.zeros((0, 3)), (np.zeros(0, np.int64),) * 3, np.zeros(0)
    points3D, inliers, errors = np.concatenate(points), np.concatenate(inliers), np.concatenate(errors)
    triangulated = np.isfinite(points3D[:, 0])
    point_id = np.cumsum(triangulated) - 1  # points numbered in track order, failed tracks skipped
    track_of = np.repeat(np.arange(len(tracks)), np.diff(tracks.offsets))
    keep = inliers & triangulated[track_of]
    observations = (tracks.image[keep], tracks.keypoint[keep], point_id[track_of[keep]])
    return points3D[triangulated], observations, errors[keep]


def _assemble(frames, store: FeatureStore, points3D, observations, config, frame_id, backbone, fingerprint,
              metadata, progress) -> SparseMap:
    """Keep, per reference, only the keypoints that observe a triangulated point (sorted by keypoint index).

    The descriptor codec is fitted first, on its sample of rows read reference by reference, and each reference's
    descriptors are encoded as they are read: the (P, C) float16 descriptors of a city-scale map (GBs) are never
    held at once, and the codec is the one SparseMap would fit on all of them."""
    image, keypoint, point = observations
    order = np.lexsort((keypoint, image))
    image, keypoint, point = image[order], keypoint[order], point[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(image, minlength=len(frames)))]).astype(np.int64)
    # the global PCA first: its temporaries (hundreds of MB at city scale) are gone before the map's arrays exist
    globals_ = np.asarray(np.stack(store.global_descriptors), np.float32)
    pca = PcaWhitening.fit(globals_, config.pca_dim, whiten=config.pca_whitening)
    global_descriptors = pca(globals_)
    del globals_
    codec = _fit_codec(store, keypoint, offsets, config.storage)
    keypoints = np.zeros((len(image), 2))
    descriptors = None
    for r in tqdm(range(len(frames)), desc="assembly", unit="img", disable=not progress):
        a, b = offsets[r], offsets[r + 1]
        if a == b:
            continue
        keypoints[a:b] = store.keypoints[r][keypoint[a:b]]
        sparse = store.get(r, "sparse_hypercolumns")[keypoint[a:b]]
        if descriptors is None:
            descriptors = np.zeros((len(image), codec.code_dim), codec.code_dtype) if codec else \
                np.zeros((len(image), sparse.shape[1]), np.float16)
        descriptors[a:b] = codec.encode(sparse) if codec else sparse
    return SparseMap(
        frame_id=frame_id, backbone=backbone, fingerprint=fingerprint,
        reference_names=[f.name for f in frames], cameras=[f.camera for f in frames],
        cam_from_world=[f.cam_from_world for f in frames],
        keypoints=keypoints, point_index=point.astype(np.int64), descriptors=descriptors,
        offsets=offsets, points3D=points3D.astype(np.float64), global_descriptors=global_descriptors, pca=pca,
        metadata={"builder": to_dict(config), **(metadata or {})}, storage=config.storage, descriptor_codec=codec)


def _fit_codec(store: FeatureStore, keypoint: np.ndarray, offsets: np.ndarray,
               storage: MapStorageConfig) -> DescriptorCodec | None:
    """The map's descriptor codec, fitted on the `fit_rows` of its (P, C) descriptors (P = offsets[-1], rows
    grouped by reference), gathered reference by reference."""
    rows = fit_rows(int(offsets[-1]))
    reference = np.searchsorted(offsets, rows, side="right") - 1
    bounds = np.searchsorted(reference, np.arange(len(offsets)))
    sample = [store.get(r, "sparse_hypercolumns")[keypoint[rows[bounds[r]:bounds[r + 1]]]]
              for r in range(len(offsets) - 1) if bounds[r] < bounds[r + 1]]
    return fit_descriptor_codec(storage, np.concatenate(sample)) if sample else None
