"""A map from a recorded bag: the posed keyframes of the bag through the map builder, with the bag's provenance
recorded in the map. Shared by the `map_builder` node; free of ROS so it is tested here."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import MapBuilderConfig
from ..io.bag_source import BagReadStats, frames_from_bag
from ..mapping.builder import BuildSummary, build_map
from ..mapping.engine import Engine
from .node_config import MapBuilderNodeConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MapFromBagReport:
    bag: BagReadStats
    build: BuildSummary
    output: Path


def _bag_identity(bag: Path) -> dict[str, int]:
    """Size and modification time of the recording: tells a resumed build (and a reader of the map) that the
    bag is the same one, not another recording at the same path."""
    files = [p for p in bag.rglob("*") if p.is_file()] if bag.is_dir() else [bag]
    return {"bag_bytes": sum(p.stat().st_size for p in files),
            "bag_modified_ns": max((p.stat().st_mtime_ns for p in files), default=0)}


def build_map_from_bag(settings: MapBuilderNodeConfig, config: MapBuilderConfig,
                       on_image: Callable[[BagReadStats], None] | None = None,
                       progress: bool = True, cache_dir: str | Path | None = None,
                       engine: Engine | None = None) -> MapFromBagReport:
    """Read the keyframes of `settings.bag`, build the map and write it atomically to `settings.output`
    (`cache_dir` and `engine`: see `build_map`)."""
    if not settings.bag or not settings.output:
        raise ValueError("both `bag` (the recording) and `output` (the map directory to write) must be given")
    frames, stats = frames_from_bag(settings.bag, settings.source, on_image)
    log.info("bag %s: %s", settings.bag, stats.summary())
    if not frames:
        raise ValueError(f"no posed keyframe in bag {settings.bag}: {stats.summary()}")
    metadata = {"source": {"bag": str(Path(settings.bag).resolve()), **_bag_identity(Path(settings.bag)),
                           **dataclasses.asdict(settings.source),
                           "intrinsics_used": stats.intrinsics_source, "camera_frames_used": list(stats.camera_frames)}}
    _, summary = build_map(frames, config, settings.output, metadata=metadata,
                           frame_id=settings.source.map_frame, progress=progress, cache_dir=cache_dir, engine=engine)
    return MapFromBagReport(stats, summary, Path(settings.output))
