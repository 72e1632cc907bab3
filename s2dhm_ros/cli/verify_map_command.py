"""`s2dhm verify-map MAP`: every file of a map against its checksums (all blocks), and every value; a report
per file and a non-zero exit status when anything is damaged."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..map_format import REBUILD, MapError, SparseMap, check_map_files


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify-map", help="check every file of a map against its checksums",
        description="Read every file of a map and check it against the checksums recorded when it was built (the "
                    "localizer checks each block lazily, the first time it reads it), then check the values "
                    "(finite points, indices in range). Exit status 0: intact; 1: damaged.")
    p.add_argument("map", type=Path, help="map directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks = check_map_files(args.map)
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{'ok' if c.ok else 'DAMAGED':8s} {c.name:{width}s}  {c.detail}")
    damaged = [c.name for c in checks if not c.ok]
    if not damaged:
        try:
            SparseMap.load(args.map).verify()
        except MapError as e:
            print(f"DAMAGED  {e}")
            damaged = ["values"]
    if damaged:
        print(f"{args.map}: damaged ({', '.join(damaged)}); {REBUILD}")
        return 1
    print(f"{args.map}: intact")
    return 0
