"""Leave-one-out on Strecha scenes with each fold's map built once and stored with several descriptor codecs
(docs/map-format.md, "Descriptor codecs"): per codec, recall at (0.25 m, 2°) and (0.5 m, 5°), median and worst
errors, by day and under simulated night, and MB per reference on disk. The same steps as `s2dhm leave-one-out
--descriptor-codec K --descriptor-dim D --no-baseline` per codec (save, reopen, localize), without rebuilding the
map for each. Usage:
    PYTHONPATH=$PWD python benchmarks/descriptor_codecs.py ../shared/data/strecha/entry-P10 --out results.jsonl \
        --codecs float16:0 int8:0 int8:128 pq:0:64 [--views 0 4 8]
A codec is KIND:D[:M] (descriptor_codec, descriptor_dim, pq_subquantizers). Results are appended to --out, one JSON
line per query, and the table is printed from everything in it."""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from s2dhm_ros.config import LocalizerConfig, MapBuilderConfig, MapStorageConfig
from s2dhm_ros.evaluation.leave_one_out import select_views, stored_and_reopened
from s2dhm_ros.geometry import pose_error
from s2dhm_ros.io.strecha import read_strecha_scene
from s2dhm_ros.localizer import Localizer
from s2dhm_ros.map_format import SparseMap
from s2dhm_ros.mapping.builder import build_map
from s2dhm_ros.synthetic.appearance import simulate_night


def parse_codec(text: str) -> MapStorageConfig:
    kind, dim, *subquantizers = text.split(":")
    return dataclasses.replace(MapStorageConfig(), descriptor_codec=kind, descriptor_dim=int(dim),
                               **({"pq_subquantizers": int(subquantizers[0])} if subquantizers else {}))


def run_scene(scene: Path, storages: list[MapStorageConfig], views, out) -> None:
    config = LocalizerConfig()
    as_built = MapStorageConfig(descriptor_codec="float16", descriptor_dim=0)  # re-encoded per codec below
    builder = MapBuilderConfig(features=config.features, storage=as_built)
    frames = read_strecha_scene(scene)
    with tempfile.TemporaryDirectory(prefix="s2dhm-codecs-") as work:
        for q in select_views(frames, views):
            built, _ = build_map(frames[:q] + frames[q + 1:], builder, progress=False, cache_dir=Path(work) / "f")
            fields = {f.name: getattr(built, f.name) for f in dataclasses.fields(SparseMap)
                      if f.init and f.name not in ("descriptor_codec", "storage", "path")}
            day = frames[q].load()
            images = {"day": day, "night": simulate_night(day, np.random.default_rng(q))}  # leave_one_out's seed
            for storage in storages:
                sparse_map, mb = stored_and_reopened(SparseMap(**fields, storage=storage), Path(work) / "map")
                localizer = Localizer(sparse_map, config)
                for condition, image in images.items():
                    result = localizer.localize(image, frames[q].camera)
                    dt, dr = pose_error(result.cam_from_world, frames[q].cam_from_world) if result.success \
                        else (float("inf"), float("inf"))
                    out.write(json.dumps({"scene": scene.name, "view": frames[q].name, **codec_key(storage),
                                          "condition": condition, "error_m": dt, "error_deg": dr,
                                          "mb_per_ref": mb}) + "\n")
                    out.flush()
            print(f"{scene.name} {frames[q].name} done", flush=True)


def codec_key(storage: MapStorageConfig) -> dict:
    return {"codec": storage.descriptor_codec, "dim": storage.descriptor_dim,
            "M": storage.pq_subquantizers if storage.descriptor_codec == "pq" else None}


def table(rows: list[dict]) -> str:
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["scene"], r["codec"], r["dim"], r["M"], r["condition"])].append(r)
    lines = ["| scene | codec | d | M | condition | views | 0.25 m, 2° | 0.5 m, 5° | median cm | median ° | worst cm "
             "| worst ° | MB/ref |", "|" + " --- |" * 13]
    for (scene, codec, dim, M, condition), g in groups.items():
        e = np.array([(r["error_m"], r["error_deg"]) for r in g])
        fine = np.mean((e[:, 0] <= 0.25) & (e[:, 1] <= 2))
        coarse = np.mean((e[:, 0] <= 0.5) & (e[:, 1] <= 5))
        lines.append(f"| {scene} | {codec} | {dim or 'all'} | {M or '-'} | {condition} | {len(g)} | {100 * fine:.0f} % "
                     f"| {100 * coarse:.0f} % | {100 * np.median(e[:, 0]):.1f} | {np.median(e[:, 1]):.2f} | "
                     f"{100 * e[:, 0].max():.1f} | {e[:, 1].max():.2f} | {np.mean([r['mb_per_ref'] for r in g]):.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenes", nargs="+", type=Path)
    parser.add_argument("--codecs", nargs="+", default=["float16:0", "int8:0", "int8:128"], help="KIND:D[:M]")
    parser.add_argument("--views", nargs="+", help="hold out only these views (default: all)")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, appended to")
    args = parser.parse_args()
    storages = [parse_codec(c) for c in args.codecs]
    with args.out.open("a") as out:
        for scene in args.scenes:
            run_scene(scene, storages, args.views, out)
    print(table([json.loads(line) for line in args.out.read_text().splitlines()]))


if __name__ == "__main__":
    main()
