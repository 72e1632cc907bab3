"""`s2dhm benchmark map-build`: the command-line side of s2dhm_ros.evaluation.map_build_benchmark."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import MapBuilderConfig, load_config
from ..evaluation import map_build_benchmark
from .demo_data_commands import _size


def add_map_build_parser(benchmark_subparsers) -> argparse.ArgumentParser:
    """`s2dhm benchmark map-build`, added to the `benchmark` command's sub-parsers."""
    p = benchmark_subparsers.add_parser(
        "map-build", help="time and peak memory of each map-building stage for 100, 1,000 and 20,000 references",
        description=map_build_benchmark.__doc__.split("\n\n")[0].split(": ", 1)[1].capitalize()
        + " Writes map_build.json and map_build.md to --out and prints the table.")
    p.add_argument("--references", type=int, nargs="+", default=[100, 1000, 20000], metavar="N",
                   help="map sizes to build (default: 100 1000 20000)")
    p.add_argument("--rendered-up-to", type=int, default=100, metavar="N",
                   help="sizes up to N use rendered images and extract their features; larger ones use generated "
                        "features (default: 100)")
    p.add_argument("--size", type=_size, default=(640, 480), metavar="WxH",
                   help="rendered image size (default: 640x480, the demo bag's)")
    p.add_argument("--scheduler", metavar="ADDRESS|local:N", help="build on a Dask cluster (see build-map)")
    p.add_argument("--baseline", metavar="COMMIT",
                   help="also build the same inputs with this commit's builder (git archive of this repository, run "
                        "in a temporary folder)")
    p.add_argument("--baseline-up-to", type=int, default=1000, metavar="N",
                   help="run the baseline for sizes up to N only (default: 1000)")
    p.add_argument("--config", type=Path, help="YAML with MapBuilderConfig fields")
    p.add_argument("--out", type=Path, default=Path("map-build-benchmark"),
                   help="output folder (default: map-build-benchmark)")
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    config = load_config(MapBuilderConfig, args.config, node_name="map_builder")
    print("| " + " | ".join(["references", "input", "builder", *map_build_benchmark.STAGES, "total s",
                              "peak RSS MB", "3D points", "mean reproj. px"]) + " |")
    rows = map_build_benchmark.run_benchmark(args.references, args.rendered_up_to, args.size, args.scheduler,
                                             args.baseline, args.baseline_up_to, config)
    map_build_benchmark.write_results(rows, args.out)
    print()
    print(map_build_benchmark.format_table(rows))
    print(f"written: {args.out / 'map_build.json'}, {args.out / 'map_build.md'}")
    return 0
