"""`s2dhm leave-one-out`: accuracy on a posed image set in the Strecha layout, by day and simulated night."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..config import LocalizerConfig, load_config
from ..evaluation.leave_one_out import leave_one_out, summarize
from ..evaluation.metrics import finite_or_none


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "leave-one-out", help="localize each view of a scene against a map of the others (Strecha layout)",
        description="For every view: build a map from the other views with their ground-truth poses, localize "
                    "the held-out view by day and under simulated night, with sparse-to-dense matching and the "
                    "sparse-to-sparse baseline. Prints recall at (0.25 m, 2°), (0.5 m, 5°), (5 m, 10°), "
                    "median errors and the mean/median NEES of the published covariance (6 when honest).")
    p.add_argument("scenes", nargs="+", type=Path, help="scene folders (images/, gt_dense_cameras/)")
    p.add_argument("--config", type=Path, help="LocalizerConfig YAML (e.g. config/localizer.yaml)")
    p.add_argument("--json", type=Path, help="also write every query's outcome to this JSON file")
    p.set_defaults(func=run)


def _finite_or_null(value: Any) -> Any:
    """JSON has no Infinity: the error of a view that was not localized is written as null."""
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return finite_or_none(value) if isinstance(value, (float, np.floating)) else value


def run(args: argparse.Namespace) -> int:
    config = load_config(LocalizerConfig, args.config, node_name="localizer")
    everything = {}
    for scene in args.scenes:
        outcomes = leave_one_out(scene, config)
        everything[scene.name] = [vars(o) for o in outcomes]
        print(f"\n{scene.name}: {len({o.query for o in outcomes})} views")
        print(f"  {'condition':9s} {'method':16s} {'0.25m,2°':>9s} {'0.5m,5°':>9s} {'5m,10°':>9s} "
              f"{'median m':>9s} {'median °':>9s} {'NEES mean':>9s} {'median':>7s}")
        for (condition, method), s in summarize(outcomes).items():
            print(f"  {condition:9s} {method:16s} " + " ".join(f"{100 * r:8.1f}%" for r in s["recall"])
                  + f" {s['median_m']:9.3f} {s['median_deg']:9.2f} {s['mean_nees']:9.2f} {s['median_nees']:7.2f}")
    if args.json:
        args.json.write_text(json.dumps(_finite_or_null(everything), indent=1, allow_nan=False))
    return 0
