"""Retrieval quality of weight-free global descriptors on Strecha-layout scenes, per dense backbone.

For every held-out view, the other views are ranked by the global descriptor (PCA-whitened on them, as a map
does) and we check whether the top-1 is one of the two views whose camera centres are nearest (ground truth).
Compared: the spatial pyramid (what maps store today, features/global_descriptors.py) and VLAD over the same
dense features with a 32-word vocabulary fitted on the other views by k-means (a vocabulary a map could store).

    PYTHONPATH=$PWD python benchmarks/global_descriptors.py ../shared/data/strecha/fountain-P11 \
        ../shared/data/strecha/entry-P10 --backbones dense_sift xfeat disk aliked
"""
from __future__ import annotations

import argparse
from pathlib import Path

import faiss
import numpy as np
import torch
import torch.nn.functional as F

from s2dhm_ros.config import FeaturesConfig
from s2dhm_ros.features import create_extractor
from s2dhm_ros.io.strecha import read_strecha_scene
from s2dhm_ros.retrieval import PcaWhitening


def vlad(dense: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(N, C) descriptors, (K, C) words -> (K*C,) intra-normalised, signed-sqrt, L2-normalised VLAD."""
    assign = np.argmax(dense @ centroids.T, axis=1)
    residuals = np.zeros_like(centroids)
    for k in range(len(centroids)):
        residuals[k] = (dense[assign == k] - centroids[k]).sum(0)
    residuals = F.normalize(torch.from_numpy(residuals), dim=1).numpy().reshape(-1)
    residuals = np.sign(residuals) * np.sqrt(np.abs(residuals))
    return residuals / max(np.linalg.norm(residuals), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenes", nargs="+", type=Path)
    parser.add_argument("--backbones", nargs="+", default=["dense_sift"])
    parser.add_argument("--words", type=int, default=32)
    args = parser.parse_args()
    for backbone in args.backbones:
        extractor = create_extractor(FeaturesConfig(backbone=backbone, device="cpu"))
        for scene in args.scenes:
            frames = read_strecha_scene(scene)
            features = [extractor.extract(f.load()) for f in frames]
            pyramid = np.stack([f.global_descriptor.numpy() for f in features])
            dense = [f.hypercolumns.reshape(f.hypercolumns.shape[0], -1).T.numpy() for f in features]
            centres = np.stack([f.cam_from_world.inverse().t for f in frames])
            hits = {"spatial_pyramid": 0, "vlad": 0}
            for q in range(len(frames)):
                others = [i for i in range(len(frames)) if i != q]
                distance = np.linalg.norm(centres[others] - centres[q], axis=1)
                nearest = {others[i] for i in np.argsort(distance)[:2]}
                rng = np.random.default_rng(q)
                sample = np.concatenate([d[rng.choice(len(d), min(len(d), 2000), replace=False)]
                                         for d in (dense[i] for i in others)]).astype(np.float32)
                kmeans = faiss.Kmeans(sample.shape[1], args.words, niter=20, seed=q, spherical=True)
                kmeans.train(sample)
                vlads = np.stack([vlad(d, kmeans.centroids) for d in dense])
                for name, descriptors in (("spatial_pyramid", pyramid), ("vlad", vlads)):
                    pca = PcaWhitening.fit(descriptors[others], 1024)
                    scores = pca(descriptors[others]) @ pca(descriptors[q:q + 1])[0]
                    hits[name] += others[int(np.argmax(scores))] in nearest
            print(f"{backbone:10s} {scene.name:13s} top-1 among the 2 nearest views: "
                  + ", ".join(f"{name} {hit}/{len(frames)}" for name, hit in hits.items()), flush=True)


if __name__ == "__main__":
    main()
