"""`s2dhm benchmark map-open`: the command-line side of s2dhm_ros.evaluation.map_open."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..evaluation import map_open
from .storage_options import add_storage_options, storage_from_options


def add_map_open_parser(benchmark_subparsers) -> argparse.ArgumentParser:
    """`s2dhm benchmark map-open`, added to the `benchmark` command's sub-parsers."""
    defaults = map_open.MapOpenSettings()
    p = benchmark_subparsers.add_parser(
        "map-open", help="disk size, open time and resident memory of synthetic maps of 100 to 20,000 references",
        description=map_open.__doc__.split("\n\n")[0] + " Writes map-open.json and map-open.md to --out and prints "
                                                        "the table.")
    p.add_argument("--references", type=int, nargs="+", default=list(defaults.references),
                   help=f"map sizes (default: {' '.join(map(str, defaults.references))})")
    p.add_argument("--keypoints", type=int, default=defaults.keypoints,
                   help=f"keypoints per reference (default: {defaults.keypoints})")
    p.add_argument("--queries", type=int, default=defaults.queries,
                   help=f"queries localized after opening (default: {defaults.queries})")
    p.add_argument("--ivf-min-references", type=int, default=defaults.storage.ivf_min_references,
                   help=f"storage.ivf_min_references (default: {defaults.storage.ivf_min_references})")
    p.add_argument("--colmap-model", action="store_true", help="also write the COLMAP model (slow at 20,000)")
    p.add_argument("--work-dir", type=Path,
                   help="where to write the maps, one at a time (default: a temporary folder; 20,000 references "
                        "take several GB)")
    add_storage_options(p, "the map builder's")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--out", type=Path, default=Path("map-open-benchmark"),
                   help="output folder (default: map-open-benchmark)")
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    storage = dataclasses.replace(storage_from_options(map_open.MapOpenSettings().storage, args),
                                  ivf_min_references=args.ivf_min_references, colmap_model=args.colmap_model)
    settings = map_open.MapOpenSettings(references=tuple(args.references), keypoints=args.keypoints,
                                        queries=args.queries, storage=storage, work_dir=args.work_dir, seed=args.seed)
    report = map_open.run_map_open_benchmark(settings, args.out)
    print(map_open.format_markdown(report))
    print(f"written: {args.out / 'map-open.json'}, {args.out / 'map-open.md'}")
    return 0
