"""`s2dhm make-demo-bag`: write the synthetic street's day and night rosbag2 recordings with ground truth."""
from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from ..synthetic.street_bag import make_street_bags


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 640x480, got {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"image size must be at least 16x16, got {text!r}")
    return width, height


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "make-demo-bag", help="write a synthetic street as day (mapping) and night (query) rosbag2 bags",
        description="Render a synthetic street with exact geometry along two drives and record them as rosbag2 "
                    "bags DIR/day and DIR/night (camera images, CameraInfo, /tf map->odom->base_link, /tf_static "
                    "base_link->camera_optical, /odom) with TUM ground-truth files DIR/groundtruth_{day,night}.txt.")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output directory (DIR/day and DIR/night must not exist)")
    p.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3",
                   help="rosbag2 storage (default sqlite3)")
    p.add_argument("--frames", type=int, default=120, metavar="N", help="day images, 1 m apart (default 120)")
    p.add_argument("--night-frames", type=int, default=None, metavar="N", help="night images (default frames/2)")
    p.add_argument("--size", type=_size, default=(640, 480), metavar="WxH", help="image size (default 640x480)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="scene and noise seed (default 0)")
    p.add_argument("--rear", action="store_true", help="mount the camera looking backwards")
    p.add_argument("--night-strength", type=float, default=1.0, metavar="X",
                   help="night appearance strength in [0, 1] (default 1)")
    p.add_argument("--photos", type=Path, default=None, metavar="DIR",
                   help="folder of real photos (*/images/*.jpg or *.jpg) for some facades; procedural otherwise")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    night = args.frames // 2 if args.night_frames is None else args.night_frames
    with tqdm(total=args.frames + night, unit="image", desc="rendering") as bar:
        ds = make_street_bags(args.out, storage=args.storage, num_frames=args.frames, num_night_frames=night,
                              image_size=args.size, seed=args.seed, rear_camera=args.rear,
                              night_strength=args.night_strength, photo_dir=args.photos, progress=bar.update)
    print(f"day bag:   {ds.day.bag} ({len(ds.day.stamps_ns)} images), ground truth {ds.day.groundtruth}")
    print(f"night bag: {ds.night.bag} ({len(ds.night.stamps_ns)} images), ground truth {ds.night.groundtruth}")
    print(f"image topic {ds.topics.image}, frames {ds.frames.map} -> {ds.frames.odom} -> {ds.frames.base_link} "
          f"-> {ds.frames.camera}")
    return 0
