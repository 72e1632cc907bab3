"""Per-reference features on disk while a map is built: bounds memory on long bags and lets an
interrupted build resume (frames already extracted with the same settings are not redone)."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml


@dataclass
class ReferenceFeatures:
    keypoints: np.ndarray  # (P, 2) float64 COLMAP pixels of the original image
    local_descriptors: np.ndarray  # (P, D) float32 detector descriptors (reference-reference matching)
    sparse_hypercolumns: np.ndarray  # (P, C) float16 dense backbone features sampled at the keypoints
    global_descriptor: np.ndarray  # (G,) float32 before PCA


class FeatureCache:
    def __init__(self, directory: Path, settings: dict):
        """`settings` identifies how features were made; a cache made otherwise is discarded."""
        self.directory = Path(directory)
        stamp = self.directory / "settings.yaml"
        if self.directory.exists() and (not stamp.is_file() or yaml.safe_load(stamp.read_text()) != settings):
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp.write_text(yaml.safe_dump(settings, sort_keys=True))

    def _path(self, name: str) -> Path:
        return self.directory / (name.replace("/", "__") + ".npz")

    def get(self, name: str) -> ReferenceFeatures | None:
        path = self._path(name)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                return ReferenceFeatures(f["keypoints"], f["local_descriptors"], f["sparse_hypercolumns"],
                                         f["global_descriptor"])
        except (OSError, ValueError, KeyError):  # a file cut short by an interruption: redo it
            path.unlink(missing_ok=True)
            return None

    def put(self, name: str, features: ReferenceFeatures) -> None:
        path = self._path(name)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keypoints=features.keypoints, local_descriptors=features.local_descriptors,
                 sparse_hypercolumns=features.sparse_hypercolumns, global_descriptor=features.global_descriptor)
        os.replace(tmp, path)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
