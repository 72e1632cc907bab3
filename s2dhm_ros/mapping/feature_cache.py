"""Per-reference features on disk while a map is built: bounds memory on long bags and lets an
interrupted build resume (frames already extracted with the same settings are not redone)."""
from __future__ import annotations

import os
import shutil
from collections import OrderedDict
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


FIELDS = ("keypoints", "local_descriptors", "sparse_hypercolumns", "global_descriptor")


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

    def get(self, name: str, fields: tuple[str, ...] = FIELDS) -> ReferenceFeatures | dict[str, np.ndarray] | None:
        """All features of `name` (None when not cached), or only `fields` as a dict (read without the others)."""
        path = self._path(name)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                values = {key: f[key] for key in fields}
        except (OSError, ValueError, KeyError):  # a file cut short by an interruption: redo it
            path.unlink(missing_ok=True)
            return None
        return ReferenceFeatures(**values) if fields == FIELDS else values

    def has(self, name: str) -> bool:
        return self._path(name).is_file()

    def put(self, name: str, features: ReferenceFeatures) -> None:
        path = self._path(name)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{key: getattr(features, key) for key in FIELDS})
        os.replace(tmp, path)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class FeatureStore:
    """The features of every reference while a map is built. Keypoints and global descriptors stay in memory
    (tens of KB per image); with a cache, the descriptors (MBs per image) stay on disk and are read back when a
    stage needs them, through a small LRU, so memory does not grow with the number of references."""

    def __init__(self, names: list[str], cache: FeatureCache | None, recent: int = 32):
        self.names = names
        self.cache = cache
        self.keypoints: list[np.ndarray | None] = [None] * len(names)
        self.global_descriptors: list[np.ndarray | None] = [None] * len(names)
        self._in_memory: dict[int, ReferenceFeatures] = {}
        self._recent: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._recent_size = recent

    def load_cached(self, i: int) -> bool:
        """Take image i's features from the cache if they are there (resuming a build)."""
        if self.cache is None:
            return False
        small = self.cache.get(self.names[i], ("keypoints", "global_descriptor"))
        if small is None:
            return False
        self.keypoints[i], self.global_descriptors[i] = small["keypoints"], small["global_descriptor"]
        return True

    def add(self, i: int, features: ReferenceFeatures) -> None:
        if self.cache is not None:
            self.cache.put(self.names[i], features)
        else:
            self._in_memory[i] = features
        self.keypoints[i], self.global_descriptors[i] = features.keypoints, features.global_descriptor

    def get(self, i: int, field: str) -> np.ndarray:
        """One field of image i: `local_descriptors` or `sparse_hypercolumns`."""
        if self.cache is None:
            return getattr(self._in_memory[i], field)
        key = (i, field)
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        values = self.cache.get(self.names[i], (field,))
        if values is None:
            raise RuntimeError(f"feature cache lost {self.names[i]} during the build; run the build again")
        self._recent[key] = values[field]
        if len(self._recent) > self._recent_size:
            self._recent.popitem(last=False)
        return values[field]
