"""`s2dhm build-map`: a map from posed images (an image folder, a Strecha scene) or from a rosbag2."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from tqdm import tqdm

from ..config import MapBuilderConfig, load_config
from ..io.bag_source import BagSourceConfig
from ..io.posed_images import read_posed_images
from ..io.strecha import read_strecha_scene
from ..mapping.builder import build_map
from ..mapping.engine import create_engine
from ..runtime.map_from_bag import build_map_from_bag
from ..runtime.node_config import MapBuilderNodeConfig
from .options import add_dataclass_options, dataclass_from_options
from .storage_options import add_storage_options, storage_from_options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build-map", help="build a localization map from posed images or a rosbag2",
        description="Build a map: keypoints, matches between nearby references, triangulation with the known "
                    "poses, sparse hypercolumns and global descriptors. Give one source: --images with --poses "
                    "and --intrinsics, --strecha, or --bag (poses from /tf or --pose-topic).")
    p.add_argument("--out", required=True, type=Path, help="map directory to write (replaced atomically)")
    p.add_argument("--config", type=Path, help="YAML with MapBuilderConfig fields (e.g. config/map_builder.yaml)")
    p.add_argument("--frame-id", default=None, help="name of the map frame (default: 'map'; with --bag, --map-frame)")
    p.add_argument("--scheduler", metavar="ADDRESS|local:N",
                   help="run feature extraction, matching and triangulation on a Dask cluster: a scheduler address "
                        "(tcp://host:8786) or local:N worker processes here (needs s2dhm_ros[distributed]); the map "
                        "is the one a build without it writes")
    p.add_argument("--feature-cache", type=Path, metavar="DIR",
                   help="keep the per-image features in DIR after the build, so that a rebuild with other matching "
                        "or triangulation settings extracts nothing (default: a hidden folder next to --out, "
                        "removed after success)")
    source = p.add_argument_group("posed images")
    source.add_argument("--images", type=Path, help="image folder")
    source.add_argument("--poses", type=Path, help="'NAME QW QX QY QZ TX TY TZ' per line (cam_from_world)")
    source.add_argument("--intrinsics", type=Path, help="'[NAME] MODEL W H PARAMS...' per line")
    source.add_argument("--strecha", type=Path, help="a scene folder in the Strecha layout")
    bag = p.add_argument_group("rosbag2 (sqlite3 or mcap; ROS 1 .bag too)")
    bag.add_argument("--bag", type=Path, help="bag to build the map from")
    add_dataclass_options(bag, BagSourceConfig)
    add_storage_options(p, "--config's storage, else the library's")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(MapBuilderConfig, args.config, node_name="map_builder")
    config = dataclasses.replace(config, storage=storage_from_options(config.storage, args))
    engine = create_engine(args.scheduler)
    try:
        return _build(args, config, engine)
    finally:
        engine.close()


def _build(args: argparse.Namespace, config: MapBuilderConfig, engine) -> int:
    frame_id = args.frame_id or "map"
    if args.bag:
        source = dataclass_from_options(BagSourceConfig, args)
        if args.frame_id:
            source = dataclasses.replace(source, map_frame=args.frame_id)
        with tqdm(desc="reading bag", unit="img") as bar:
            def on_image(stats):
                bar.total = stats.images_total
                bar.update(stats.images_seen - bar.n)
                if stats.images_seen >= stats.images_total:
                    bar.close()  # reading is done; the builder's own bars follow
            report = build_map_from_bag(MapBuilderNodeConfig(str(args.bag), str(args.out), source), config,
                                        on_image=on_image, cache_dir=args.feature_cache, engine=engine)
        print(report.bag.summary())
        print(f"map written to {args.out}: {report.build}")
        return 0
    if args.strecha:
        frames = read_strecha_scene(args.strecha)
        metadata = {"source": {"strecha": str(args.strecha.resolve())}}
    elif args.images:
        if not (args.poses and args.intrinsics):
            raise ValueError("--images needs --poses and --intrinsics")
        frames = read_posed_images(args.images, args.poses, args.intrinsics)
        metadata = {"source": {"images": str(args.images.resolve()), "poses": str(args.poses.resolve())}}
    else:
        raise ValueError("give a source: --bag, --strecha, or --images with --poses and --intrinsics")
    _, summary = build_map(frames, config, args.out, metadata=metadata, frame_id=frame_id,
                           cache_dir=args.feature_cache, engine=engine)
    print(f"map written to {args.out}: {summary}")
    return 0
