"""Per-stage timings of one query localized against the whole map vs among the references near a pose prior
(docs/pose-prior.md, "Retrieval near a confident prior"), on the rendered street, with the ratio of the stages that
depend on the number of references. Usage: PYTHONPATH=$PWD python benchmarks/prior_retrieval.py [--repeats 3]"""
from __future__ import annotations

import argparse

import numpy as np

from s2dhm_ros.config import MapBuilderConfig
from s2dhm_ros.frames import Frame
from s2dhm_ros.localizer import Localizer
from s2dhm_ros.mapping.builder import build_map
from s2dhm_ros.synthetic.render import render
from s2dhm_ros.synthetic.scene import make_street_scene
from s2dhm_ros.synthetic.street_bag import street_camera
from s2dhm_ros.synthetic.trajectory import Drive, camera_mount

MATCHING = ("correspondence_maps", "ratio_test", "subcell_refinement", "pnp")


def street_frames(count: int = 12) -> list[Frame]:
    scene = make_street_scene(length=60.0, seed=1)
    camera, mount = street_camera(320, 240), camera_mount()
    drive = Drive(scene.road, start_s=10.0, speed=1.0, t0_ns=0)
    frames = []
    for i in range(count):
        cam_from_world = (drive.map_from_base(i * 1_000_000_000) * mount).inverse()
        image = render(scene, camera, cam_from_world).image
        frames.append(Frame(f"{i:03d}.png", camera, (lambda im=image: im), cam_from_world))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--radius-m", type=float, default=1.5)
    args = parser.parse_args()
    frames = street_frames()
    query = frames[5]
    sparse_map, _ = build_map(frames[:5] + frames[6:], MapBuilderConfig(), progress=False)
    localizer = Localizer(sparse_map)
    near = localizer.references_near(query.cam_from_world.center, args.radius_m)
    image = query.load()
    times = {"global": [], "near": []}
    for _ in range(args.repeats):
        for label, candidates in (("global", None), ("near", near)):
            result = localizer.localize(image, query.camera, candidates)
            times[label].append((len(result.retrieved), sum(result.timings[k] for k in MATCHING),
                                 result.timings["dense_features"], result.timings["total"]))
    for label, rows in times.items():
        refs, matching, dense, total = np.median(np.array(rows), axis=0)
        print(f"{label:6s} {int(refs):2d} references: matching + PnP {matching:.3f} s, dense features {dense:.3f} s, "
              f"total {total:.3f} s (medians of {args.repeats})")
    ratio = np.median([r[1] for r in times["global"]]) / np.median([r[1] for r in times["near"]])
    print(f"matching + PnP, global / near the prior: {ratio:.2f}x")


if __name__ == "__main__":
    main()
