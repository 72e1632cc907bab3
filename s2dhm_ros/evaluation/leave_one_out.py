"""Leave-one-out localization on a posed image set (the Strecha layout): for each view, a map is
built from all the OTHER views with their ground-truth poses and the held-out view is localized,
by day and under simulated night (s2dhm_ros.synthetic.appearance.simulate_night), with the
paper's sparse-to-dense matching and the sparse-to-sparse baseline of its ablation. Each map is saved and
reopened through the map format (s2dhm_ros/map_format.py) before it is used, so that what is measured is what a
stored map does (its descriptor codec included), and its size on disk per reference image is reported."""
from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..config import LocalizerConfig, MapBuilderConfig
from ..geometry import pose_error
from ..io.strecha import read_strecha_scene
from ..localizer import Localizer
from ..map_format import SparseMap
from ..mapping.builder import build_map
from ..runtime.pose_output import published_pose
from ..runtime.pose_prior import nees
from ..synthetic.appearance import simulate_night
from .map_open import disk_usage
from .metrics import median_errors, recall_at_thresholds

CONDITIONS = ("day", "night")
METHODS = ("sparse_to_dense", "sparse_to_sparse")


@dataclass
class QueryOutcome:
    query: str
    condition: str  # "day" or "night"
    method: str  # matcher.method
    success: bool
    error_m: float  # inf when localization failed
    error_deg: float
    num_inliers: int
    timings: dict[str, float]
    num_matches: int = 0  # 2D-3D matches that passed the ratio test, over all retrieved references
    reference: str | None = None  # the reference whose matches gave the pose
    retrieved: list[str] = field(default_factory=list)  # retrieved references, best first
    map_keypoints: int = 0  # 3D-point keypoints in the map of the other views
    nees: float = float("nan")  # of the published (ROS order) camera pose and covariance; NaN when it failed
    map_mb_per_reference: float = float("nan")  # the saved map of the other views on disk, MB (1e6) per reference


def leave_one_out(scene_dir: str | Path, localizer_config: LocalizerConfig | None = None,
                  builder_config: MapBuilderConfig | None = None,
                  runs: Iterable[tuple[str, str]] = (("day", "sparse_to_dense"), ("night", "sparse_to_dense"),
                                                     ("night", "sparse_to_sparse")),
                  seed: int = 0, progress: bool = True, views: Sequence[int | str] | None = None,
                  on_view: Callable[[list[QueryOutcome]], None] | None = None) -> list[QueryOutcome]:
    """Localize every view of the scene (or only `views`: indices or image names) against a map of the others;
    `runs` are (condition, method) pairs. `on_view` gets the outcomes so far after each view (partial results)."""
    localizer_config = localizer_config or LocalizerConfig()
    builder_config = builder_config or MapBuilderConfig(features=localizer_config.features)
    frames = read_strecha_scene(scene_dir)
    held_out = select_views(frames, views)
    runs = list(runs)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="s2dhm-loo-") as work:
        cache = Path(work) / "features"  # shared by all folds
        for q in tqdm(held_out, desc=f"leave-one-out {Path(scene_dir).name}", unit="view", disable=not progress):
            query = frames[q]
            built, _ = build_map(frames[:q] + frames[q + 1:], builder_config, progress=False, cache_dir=cache)
            sparse_map, mb_per_reference = stored_and_reopened(built, Path(work) / "map")
            day = query.load()
            images = {"day": day,
                      "night": simulate_night(day, np.random.default_rng(seed + q)) if any(
                          c == "night" for c, _ in runs) else None}
            localizers = {}
            for condition, method in runs:
                if method not in localizers:
                    config = dataclasses.replace(localizer_config, matcher=dataclasses.replace(
                        localizer_config.matcher, method=method))
                    localizers[method] = Localizer(sparse_map, config)
                result = localizers[method].localize(images[condition], query.camera)
                dt, dr = pose_error(result.cam_from_world, query.cam_from_world) if result.success else (np.inf, np.inf)
                outcomes.append(QueryOutcome(query.name, condition, method, result.success, dt, dr,
                                             result.num_inliers, result.timings, result.num_matches,
                                             result.reference, result.retrieved, len(sparse_map.point_index),
                                             _nees(result, query.cam_from_world), mb_per_reference))
            if on_view is not None:
                on_view(outcomes)
    return outcomes


def stored_and_reopened(sparse_map: SparseMap, path: Path) -> tuple[SparseMap, float]:
    """`sparse_map` saved at `path` (replacing what is there) and opened from it; its MB (1e6) per reference on
    disk."""
    sparse_map.save(path)
    return SparseMap.load(path), disk_usage(path)["bytes_per_reference"] / 1e6


def select_views(frames: Sequence, views: Sequence[int | str] | None) -> list[int]:
    """Indices of the views to hold out: all by default, else given by 0-based index or image name."""
    if views is None:
        return list(range(len(frames)))
    names = [f.name for f in frames]
    chosen = []
    for v in views:
        if isinstance(v, str) and not v.isdigit():
            if v not in names:
                raise ValueError(f"no view named {v!r} in the scene; its views are {names}")
            chosen.append(names.index(v))
        elif not 0 <= int(v) < len(frames):
            raise ValueError(f"view index {v} is out of range: the scene has {len(frames)} views "
                             f"(0..{len(frames) - 1})")
        else:
            chosen.append(int(v))
    return list(dict.fromkeys(chosen))


def _nees(result, cam_from_world_truth) -> float:
    if not result.success or result.covariance is None:
        return float("nan")
    published = published_pose(result.cam_from_world, result.covariance)
    return nees(published.map_from_frame, published.covariance, cam_from_world_truth.inverse())


def summarize(outcomes: list[QueryOutcome]) -> dict[tuple[str, str], dict]:
    """Per (condition, method): recall at the benchmark thresholds, median errors, and the mean and median NEES of
    the published covariance over the localized views (6 when honest; NaN when none has one), and the mean MB per
    reference of the maps on disk."""
    summary = {}
    for key in dict.fromkeys((o.condition, o.method) for o in outcomes):
        group = [o for o in outcomes if (o.condition, o.method) == key]
        errors = np.array([(o.error_m, o.error_deg) for o in group])
        median_m, median_deg = median_errors(errors[:, 0], errors[:, 1])
        nees_values = np.array([o.nees for o in group if np.isfinite(o.nees)])
        summary[key] = {"recall": recall_at_thresholds(errors[:, 0], errors[:, 1]),
                        "median_m": median_m, "median_deg": median_deg, "num_queries": len(group),
                        "num_localized": int(sum(o.success for o in group)),
                        "median_time_s": float(np.median([o.timings.get("total", np.nan) for o in group])),
                        "mean_nees": float(nees_values.mean()) if len(nees_values) else float("nan"),
                        "median_nees": float(np.median(nees_values)) if len(nees_values) else float("nan"),
                        "map_mb_per_reference": float(np.mean([o.map_mb_per_reference for o in group]))}
    return summary
