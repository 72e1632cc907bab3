"""Markdown table of `s2dhm leave-one-out --json` documents, one row per backbone, scene and condition.

Comparing backbones (docs/embedded-default.md, "All views") is one leave-one-out run per backbone, each saved with
`--out`, then this table over all of them:

    for b in dense_sift xfeat disk aliked; do
      s2dhm leave-one-out ../shared/data/strecha/fountain-P11 ../shared/data/strecha/entry-P10 \
          --backbone $b --no-baseline --json --out /tmp/backbones/$b.json
    done
    PYTHONPATH=$PWD python benchmarks/backbone_table.py /tmp/backbones/*.json

A scene whose run was cut short is marked with the number of views it holds. Times are medians over the queries:
the whole query, and in brackets the backbone's forward pass alone (timings "dense_features").
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RECALLS = ("0.25m,2.0deg", "0.5m,5.0deg")


def rows(document: dict) -> list[str]:
    """Table rows of one leave-one-out JSON document (schema: s2dhm_ros/cli/evaluate_commands.py)."""
    backbone = document["config"]["features"]["backbone"]
    out = []
    for scene, result in document["scenes"].items():
        views = "" if result["complete"] else f" ({len(result['views'])} views)"
        for s in result["summary"]:
            recalls = " | ".join(f"{100 * s['recall'][r]:.0f} %" for r in RECALLS)
            queries = [q for q in result["queries"]
                       if (q["condition"], q["method"]) == (s["condition"], s["method"])]
            features_s = np.median([q["timings"]["dense_features"] for q in queries])
            worst_m = max(q["error_m"] if q["success"] else np.inf for q in queries)
            out.append(f"| {backbone} | {scene}{views} | {s['condition']} | {recalls} | "
                       f"{100 * s['median_m']:.1f} cm, {s['median_deg']:.2f}° | {100 * worst_m:.1f} cm | "
                       f"{s['median_time_s']:.1f} ({features_s:.1f}) |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("documents", nargs="+", type=Path, help="files written by leave-one-out --out")
    args = parser.parse_args()
    print("| backbone | scene | condition | 0.25 m, 2° | 0.5 m, 5° | median error | worst "
          "| s per query (dense features) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in args.documents:
        print("\n".join(rows(json.loads(path.read_text()))))


if __name__ == "__main__":
    main()
