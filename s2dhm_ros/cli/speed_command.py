"""`s2dhm benchmark speed`: the command-line side of s2dhm_ros.evaluation.speed."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import MatcherConfig
from ..evaluation import speed
from .options import add_dataclass_options, dataclass_from_options


def add_speed_parser(benchmark_subparsers) -> argparse.ArgumentParser:
    """`s2dhm benchmark speed`, added to the `benchmark` command's sub-parsers."""
    p = benchmark_subparsers.add_parser(
        "speed", help="per-stage timings (paper Table 4 columns + sub-cell refinement, retrieval, total) "
                      "against the paper's path",
        description=speed.__doc__.split("\n\n")[0] + " Writes speed.json and speed.md to --out and prints the table.")
    p.add_argument("--backbone", choices=("dense_sift", "vgg16"), default="dense_sift",
                   help="synthetic map backbone; vgg16 without --weights is randomly initialised (timing only)")
    p.add_argument("--weights", help="vgg16 weights (S2DHM weights.pth.tar or Pitts30K_struct.mat)")
    p.add_argument("--map", dest="map_dir", type=Path, help="time against this map instead of a synthetic one")
    p.add_argument("--image", type=Path, help="query image (default: a synthetic 512x384 texture)")
    p.add_argument("--query-size", type=int, nargs=2, default=[512, 384], metavar=("WIDTH", "HEIGHT"),
                   help="size of the synthetic query (default: 512 384, the paper's 512 px longer side)")
    p.add_argument("--references", type=int, default=15, help="synthetic map: reference images (default: 15)")
    p.add_argument("--keypoints", type=int, default=1000, help="synthetic map: keypoints per reference (default: 1000)")
    p.add_argument("--inlier-fraction", type=float, default=0.3,
                   help="synthetic map: keypoints planted at true correspondents (default: 0.3)")
    p.add_argument("--num-references", type=int, nargs="+", default=[1, 5, 15], help="N values (default: 1 5 15)")
    p.add_argument("--repeats", type=int, default=10, help="timed queries per N (default: 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed queries first (default: 2)")
    p.add_argument("--device", dest="devices", action="append", choices=("cpu", "cuda"),
                   help="repeatable (default: cpu, and cuda when available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("speed-benchmark"), help="output folder (default: speed-benchmark)")
    add_dataclass_options(p.add_argument_group("matcher"), MatcherConfig, "matcher: ")
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    settings = speed.SpeedSettings(
        backbone=args.backbone, weights=args.weights, map_dir=args.map_dir, image=args.image,
        image_size=tuple(args.query_size),
        references=max(args.references, max(args.num_references)), keypoints=args.keypoints,
        inlier_fraction=args.inlier_fraction, num_references=tuple(args.num_references), repeats=args.repeats,
        warmup=args.warmup, devices=tuple(args.devices or ()), matcher=dataclass_from_options(MatcherConfig, args),
        seed=args.seed)
    report = speed.run_speed_benchmark(settings, args.out)
    print(speed.format_markdown(report))
    print(f"written: {args.out / 'speed.json'}, {args.out / 'speed.md'}")
    return 0
