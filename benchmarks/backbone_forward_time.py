"""Forward time of each dense backbone on one real image, the backbones interleaved round after round, so that a
change of machine load hits all of them alike (leave-one-out runs of different backbones happen minutes apart).

    PYTHONPATH=$PWD python benchmarks/backbone_forward_time.py ../shared/data/strecha/fountain-P11/images/0005.jpg \
        --backbones dense_sift xfeat xfeat@1024 disk aliked --rounds 3

A backbone written NAME@SIZE runs on the image shrunk to SIZE px instead of --max-image-size.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from s2dhm_ros.config import FeaturesConfig
from s2dhm_ros.features import create_extractor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--backbones", nargs="+", default=["dense_sift", "xfeat", "disk", "aliked"],
                        help="names, or NAME@SIZE for another image size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-image-size", type=int, default=FeaturesConfig().max_image_size)
    args = parser.parse_args()
    image = cv2.cvtColor(cv2.imread(str(args.image)), cv2.COLOR_BGR2RGB)
    extractors = {b: create_extractor(FeaturesConfig(backbone=b.partition("@")[0], device="cpu",
                                                     max_image_size=int(b.partition("@")[2] or args.max_image_size)))
                  for b in args.backbones}
    for extractor in extractors.values():
        extractor.extract(image)  # warm-up (allocations, lazy initialisation)
    seconds: dict[str, list[float]] = {b: [] for b in extractors}
    grids = {}
    for _ in range(args.rounds):
        for name, extractor in extractors.items():
            start = time.perf_counter()
            grids[name] = extractor.extract(image).grid_shape
            seconds[name].append(time.perf_counter() - start)
    print(f"| backbone (@ px, else {args.max_image_size}) | grid | forward s (median of {args.rounds}, min) |")
    print("| --- | --- | --- |")
    for name, extractor in extractors.items():
        h, w = grids[name]
        print(f"| {name} | {w}x{h}, stride {extractor.stride} | {np.median(seconds[name]):.2f}, "
              f"{min(seconds[name]):.2f} |")


if __name__ == "__main__":
    main()
