"""Configuration of every pipeline stage: small dataclasses whose defaults are the paper's values.

These dataclasses are the single source of defaults. `config/*.yaml` files override them (and
double as ROS 2 parameter files: the node declares one parameter per leaf field, named
`section.field`). `load_config` rejects unknown keys so that a typo is an error, not a silent default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml


@dataclass
class FeaturesConfig:
    """Dense features of a query and sparse features of the map (one backbone for both)."""

    # "dense_sift": weight-free dense RootSIFT (the embedded default, see docs/embedded-default.md);
    # "vgg16": NetVLAD/VGG16 hypercolumns as in the paper (needs `weights`);
    # "xfeat", "disk", "aliked": learned dense features, weights from registry packages (features/learned.py).
    backbone: str = "dense_sift"
    # vgg16: S2DHM checkpoint (weights.pth.tar) or Pitts30K_struct.mat; learned backbones: another copy of
    # their weights file (by default the one in their package)
    weights: str | None = None
    max_image_size: int = 512  # paper: longer side rescaled to at most 512 px, never upscaled
    device: str = "auto"  # "auto" picks CUDA when available, else CPU


@dataclass
class RetrievalConfig:
    num_references: int = 15  # paper: N = 15 on RobotCar Seasons, 10 on Extended CMU Seasons
    pca_dim: int = 1024  # paper: global descriptors reduced to 1024 by PCA fitted on the reference set
    ivf_nprobe: int = 16  # inverted lists searched when the map's retrieval index is IVF (large maps)


@dataclass
class MatcherConfig:
    """Sparse-to-dense matching and the ratio test of Eq. (1)."""

    # "sparse_to_dense": the paper's method; "sparse_to_sparse": the ablation baseline (query keypoints
    # detected too, matched by mutual nearest neighbour).
    method: str = "sparse_to_dense"
    ratio_alpha: float = 0.9  # paper: alpha = 0.9
    # "paper": keep when C[k] <= alpha * peak, k = floor(f*H*W) (our reading of Eq. (1));
    # "s2dhm": the public S2DHM code exactly, C[k-1] <= alpha**2 * peak (matching/sparse_to_dense.py).
    ratio_test: str = "paper"
    ratio_fraction: float = 0.006  # paper: f = 0.006 on RobotCar Seasons, 0.12 on Extended CMU Seasons
    subcell_refinement: bool = True  # parabola fit around the peak (our addition; see matching/sparse_to_dense.py)
    chunk_size: int = 4096  # map keypoints correlated per matrix product (bounds memory)
    half_precision: bool = False  # fp16 correlation on CUDA (never on CPU)


# Pixel noise (std) of one match, in query feature cells with images shrunk to CALIBRATION_IMAGE_SIZE, measured per
# backbone so that the mean NEES of the published covariance is 6 on real images (docs/pose-prior.md, "Calibration
# per backbone"). A cell / sqrt(12) (a position uniform over one cell) makes dense RootSIFT's covariance ~37x too
# small (NEES 220): the errors of one query's matches are correlated. dense_sift: fitted on the leave-one-out of
# fountain-P11, entry-P10 held out; learned backbones: fitted on both scenes pooled (XFeat fitted on fountain-P11
# alone left entry-P10 below the band). vgg16 is not calibrated (no weights here) and takes dense RootSIFT's value.
NOISE_CELLS_BY_BACKBONE = {"dense_sift": 1.75, "vgg16": 1.75, "xfeat": 0.82, "disk": 0.74, "aliked": 1.54}
CALIBRATION_IMAGE_SIZE = 512


@dataclass
class PoseConfig:
    # RANSAC inlier threshold in feature-grid cells of the query (cell = 4 px of the image shrunk to
    # <= 512 px, in original pixels). The paper's 12 px on RobotCar (1024 px images, 8 px cells) is 1.5
    # cells; a fixed pixel value is 3 cells on a 400 px image and half a cell on a 3072 px one. Measured:
    # docs/embedded-default.md.
    ransac_max_error_cells: float = 1.0
    ransac_max_error_px: float | None = None  # an explicit threshold in original pixels overrides the cells
    min_inliers: int = 15  # paper: a pose needs at least 15 inliers
    # Pixel noise (std) of one match for the pose covariance (one observation per query cell), in query feature
    # cells; None: the backbone's calibrated value (NOISE_CELLS_BY_BACKBONE). A number overrides it.
    covariance_noise_cells: float | None = None
    covariance_pixel_noise_px: float | None = None  # an explicit noise in original pixels overrides the cells
    ransac_confidence: float = 0.99999
    ransac_max_trials: int = 10000

    def noise_cells(self, features: FeaturesConfig, image_side: int) -> float:
        """The pixel noise of the pose covariance in feature cells: the setting, else the backbone's calibration,
        scaled so that it stays the same in original pixels when images of `image_side` (their longer side) are
        processed larger than at calibration. Measured on XFeat at 1024 px: the noise that fits there is 34 px,
        against 39 px at 512 px (1.41 cells, 1.64 by this rule: a mean NEES of 4.4 instead of 6)."""
        if self.covariance_noise_cells is not None:
            return self.covariance_noise_cells
        scale = min(features.max_image_size, image_side) / min(CALIBRATION_IMAGE_SIZE, image_side)
        return NOISE_CELLS_BY_BACKBONE[features.backbone] * scale


@dataclass
class LocalizerConfig:
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    matcher: MatcherConfig = field(default_factory=MatcherConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)


@dataclass
class MapStorageConfig:
    """How a map holds its data, in memory and on disk (map format 2; measurements in docs/map-format.md)."""

    # Local descriptors PCA-reduced to this many dimensions before they are encoded; 0 (or >= C) keeps all C.
    descriptor_dim: int = 128
    # How they are stored (s2dhm_ros/descriptor_codec.py): "float16", "int8" (one step per dimension) or "pq"
    # (faiss product quantizer, pq_subquantizers bytes per keypoint); decoded back to C dimensions before matching.
    # The default (128 dimensions in int8) meets 0.5 MB per reference with no measured loss: docs/map-format.md.
    descriptor_codec: str = "int8"
    pq_subquantizers: int = 64  # must divide the (reduced) descriptor dimension
    ivf_min_references: int = 5000  # from this many references retrieval uses a faiss IVF index, below exact search
    checksum_block_bytes: int = 1048576  # map files are verified in blocks of this size, on first read
    colmap_model: bool = True  # also write the map as a COLMAP model (colmap/), for COLMAP tools


@dataclass
class MapBuilderConfig:
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    detector: str = "sift"  # "sift" (weight-free) or "superpoint" (needs `superpoint_weights`)
    superpoint_weights: str | None = None
    max_keypoints: int = 4096  # per reference image
    detection_max_image_size: int = 1600  # keypoints are detected on an image at most this large
    num_pair_neighbors: int = 5  # each reference is matched to its nearest references by pose
    pair_max_distance_m: float = 50.0
    pair_max_angle_deg: float = 60.0
    triangulation_max_reproj_error_px: float = 4.0
    triangulation_min_angle_deg: float = 1.5
    pca_dim: int = 1024
    # Whiten the PCA of global descriptors (ours, as Jégou & Chum [28]); false is plain PCA, as the public
    # S2DHM code (s2dhm_ros/retrieval/pca.py says why).
    pca_whitening: bool = True
    storage: MapStorageConfig = field(default_factory=MapStorageConfig)


C = TypeVar("C")


def from_dict(cls: type[C], values: dict[str, Any] | None, where: str = "") -> C:
    """Build a (nested) config dataclass from a dict, rejecting keys it does not know."""
    values = dict(values or {})
    kwargs = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown configuration key(s) {unknown} in {where or cls.__name__}; "
                         f"known: {sorted(fields)}")
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = from_dict(type(default), value, f"{where}{name}.")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def load_config(cls: type[C], path: str | Path | None, node_name: str | None = None) -> C:
    """Load a config from YAML. A ROS 2 parameter file (`<node>: {ros__parameters: {...}}`) works too."""
    if path is None:
        return cls()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"cannot read configuration {path}: {e}") from e
    if node_name is not None and node_name in data:
        data = data[node_name]
    if isinstance(data, dict) and "ros__parameters" in data:
        data = data["ros__parameters"]
    return from_dict(cls, data, f"{path}: ")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the names of ROS parameters."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def unflatten(values: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `flatten`."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out
