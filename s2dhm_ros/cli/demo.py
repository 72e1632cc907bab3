"""`s2dhm demo`: the whole job on embedded data, with no download and no ROS.

It runs exactly what a user runs on their own recordings: synthetic street bags stand in for a day
drive (mapping) and a night drive 1.5 m to the side (queries); `build-map --bag` makes the map and
`localize-bag` localizes the night bag against it and judges it against the bag's ground truth.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from ..synthetic.street_bag import make_street_bags


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="map a synthetic day drive, localize a night drive (no download)",
        description="Render a synthetic street into a day and a night rosbag2, build a map from the day bag, "
                    "localize every night image and print its error; writes everything under --out.")
    p.add_argument("--out", type=Path, default=Path("s2dhm-demo"), help="working directory (default: ./s2dhm-demo)")
    p.add_argument("--frames", type=int, default=40, help="day images, about 1 m apart (default: 40)")
    p.add_argument("--size", default="512x384", help="image size WxH (default: 512x384)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from . import main  # the demo is a script of the s2dhm commands themselves

    width, height = (int(v) for v in args.size.lower().split("x"))
    data = args.out / "bags"
    if data.exists():
        raise ValueError(f"{data} exists already: remove it or give another --out")
    with tqdm(total=args.frames + args.frames // 2, desc="rendering street bags", unit="img") as bar:
        dataset = make_street_bags(data, num_frames=args.frames, image_size=(width, height), seed=args.seed,
                                   progress=bar.update)
    print(f"day bag {dataset.day.bag}, night bag {dataset.night.bag}")
    for argv in (["build-map", "--bag", str(dataset.day.bag), "--out", str(args.out / "map")],
                 ["localize-bag", "--map", str(args.out / "map"), "--bag", str(dataset.night.bag),
                  "--out", str(args.out / "night")]):
        print("$ s2dhm " + " ".join(argv))
        if main(argv) != 0:
            return 1
    results = json.loads((args.out / "night" / "results.json").read_text())
    print(f"\n{'night image':>20s} {'inliers':>8s} {'error m':>8s} {'error °':>8s}")
    for frame in results["frames"]:
        m, deg = frame.get("error_m"), frame.get("error_deg")
        print(f"{frame['stamp_ns']:>20d} {frame['num_inliers']:>8d} "
              + (f"{m:8.3f} {deg:8.2f}" if m is not None and frame["success"] else f"{'failed':>8s}"))
    print(f"\nreport: {args.out / 'night' / 'report.md'}")
    return 0
