"""`s2dhm leave-one-out`: accuracy on a posed image set in the Strecha layout, by day and simulated night.

With `--json`, stdout is ONE JSON document (progress bars go to stderr) that a script can read:
    {"config": {...LocalizerConfig...},
     "scenes": {"<scene>": {"complete": bool, "views": [held-out image names, in order],
                            "summary": [{"condition", "method", "recall": {"0.25m,2deg": 0..1, ...},
                                         "median_m", "median_deg", "num_queries", "num_localized",
                                         "median_time_s", "map_mb_per_reference"}, ...],
                            "queries": [{"query", "condition", "method", "success", "error_m", "error_deg",
                                         "num_inliers", "num_matches", "reference", "retrieved",
                                         "map_keypoints", "timings", "map_mb_per_reference"}, ...]}}}
Errors of views that were not localized are null (JSON has no Infinity). `--out FILE` writes the same document,
rewritten atomically after every view, so an interrupted run leaves a readable partial result
("complete": false); `--views` holds out only some views (the summary is over those).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..config import LocalizerConfig, MapBuilderConfig, load_config, to_dict
from ..evaluation.leave_one_out import QueryOutcome, leave_one_out, summarize
from ..evaluation.metrics import THRESHOLDS, finite_or_none
from ..features import BACKBONES
from ..io.atomic import write_text_atomic
from .storage_options import add_storage_options, storage_from_options

BASELINE_RUN = ("night", "sparse_to_sparse")
RUNS = (("day", "sparse_to_dense"), ("night", "sparse_to_dense"), BASELINE_RUN)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "leave-one-out", help="localize each view of a scene against a map of the others (Strecha layout)",
        description="For every view: build a map from the other views with their ground-truth poses, localize "
                    "the held-out view by day and under simulated night, with sparse-to-dense matching and the "
                    "sparse-to-sparse baseline. Prints recall at (0.25 m, 2°), (0.5 m, 5°), (5 m, 10°), median "
                    "errors, the median time per query, the mean/median NEES of the published covariance (6 when "
                    "honest) and the maps' MB per reference image on disk (each map is saved and reopened).")
    p.add_argument("scenes", nargs="+", type=Path, help="scene folders (images/, gt_dense_cameras/)")
    p.add_argument("--config", type=Path, help="LocalizerConfig YAML (e.g. config/localizer.yaml)")
    p.add_argument("--backbone", choices=BACKBONES, help="override features.backbone of the config")
    p.add_argument("--views", nargs="+", metavar="VIEW",
                   help="hold out only these views: 0-based indices or image names (default: all)")
    p.add_argument("--builder-config", type=Path, help="MapBuilderConfig YAML for the maps (e.g. "
                                                       "config/map_builder.yaml); its features are the localizer's")
    add_storage_options(p, "the builder config's storage")
    p.add_argument("--no-baseline", action="store_true", help="skip the sparse-to-sparse baseline (faster)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document on stdout instead of the table (schema: module docstring)")
    p.add_argument("--out", type=Path, help="also write the JSON document to this file, updated after every view")
    p.set_defaults(func=run)


def _finite_or_null(value: Any) -> Any:
    """JSON has no Infinity: the error of a view that was not localized is written as null."""
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return finite_or_none(value) if isinstance(value, (float, np.floating)) else value


def scene_report(outcomes: list[QueryOutcome], complete: bool) -> dict[str, Any]:
    """One scene's part of the JSON document."""
    summary = [{"condition": c, "method": m,
                "recall": {f"{t}m,{d}deg": r for (t, d), r in zip(THRESHOLDS, s.pop("recall"))}, **s}
               for (c, m), s in summarize(outcomes).items()]
    return {"complete": complete, "views": list(dict.fromkeys(o.query for o in outcomes)), "summary": summary,
            "queries": [dataclasses.asdict(o) for o in outcomes]}


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(_finite_or_null(document), indent=1, allow_nan=False)


def _print_table(name: str, outcomes: list[QueryOutcome]) -> None:
    print(f"\n{name}: {len({o.query for o in outcomes})} views")
    print(f"  {'condition':9s} {'method':16s} {'0.25m,2°':>9s} {'0.5m,5°':>9s} {'5m,10°':>9s} "
          f"{'median m':>9s} {'median °':>9s} {'s/query':>8s} {'NEES mean':>9s} {'median':>7s} {'MB/ref':>7s}")
    for (condition, method), s in summarize(outcomes).items():
        print(f"  {condition:9s} {method:16s} " + " ".join(f"{100 * r:8.1f}%" for r in s["recall"])
              + f" {s['median_m']:9.3f} {s['median_deg']:9.2f} {s['median_time_s']:8.2f}"
              + f" {s['mean_nees']:9.2f} {s['median_nees']:7.2f} {s['map_mb_per_reference']:7.3f}")


def run(args: argparse.Namespace) -> int:
    config = load_config(LocalizerConfig, args.config, node_name="localizer")
    if args.backbone:
        config = dataclasses.replace(config, features=dataclasses.replace(config.features, backbone=args.backbone))
    builder = load_config(MapBuilderConfig, args.builder_config, node_name="map_builder")
    builder = dataclasses.replace(builder, features=config.features,
                                  storage=storage_from_options(builder.storage, args))
    runs = [r for r in RUNS if not (args.no_baseline and r == BASELINE_RUN)]
    document: dict[str, Any] = {"config": to_dict(config), "scenes": {}}

    def save(scene: str, outcomes: list[QueryOutcome], complete: bool) -> None:
        document["scenes"][scene] = scene_report(outcomes, complete)
        if args.out:
            write_text_atomic(args.out, _dump(document))

    for scene in args.scenes:
        try:
            outcomes = leave_one_out(scene, config, builder, runs=runs, views=args.views,
                                     on_view=lambda so_far, name=scene.name: save(name, so_far, False))
        except (ValueError, FileNotFoundError) as e:  # a bad --views entry or scene folder: say so, keep the file
            print(f"error: {e}", file=sys.stderr)
            return 2
        save(scene.name, outcomes, True)
        if not args.json:
            _print_table(scene.name, outcomes)
    if args.json:
        print(_dump(document))
    return 0
