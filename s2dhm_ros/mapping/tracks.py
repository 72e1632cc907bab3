"""Feature tracks: connected components of pairwise matches (union-find)."""
from __future__ import annotations

import numpy as np


class UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, a: int) -> int:
        root = a
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[a] != root:
            self.parent[a], a = root, self.parent[a]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def build_tracks(num_keypoints: list[int], matches: dict[tuple[int, int], np.ndarray]) -> list[list[tuple[int, int]]]:
    """num_keypoints[i]: keypoints of image i; matches[(i, j)]: (K, 2) keypoint index pairs.

    Returns tracks as lists of (image, keypoint). A track that sees one image twice is
    inconsistent: it keeps only the first observation per image.
    """
    offsets = np.concatenate([[0], np.cumsum(num_keypoints)])
    uf = UnionFind(int(offsets[-1]))
    for (i, j), m in matches.items():
        for a, b in m:
            uf.union(int(offsets[i] + a), int(offsets[j] + b))
    groups: dict[int, list[tuple[int, int]]] = {}
    for (i, j), m in matches.items():
        for a, b in m:
            for img, kp in ((i, int(a)), (j, int(b))):
                groups.setdefault(uf.find(int(offsets[img] + kp)), []).append((img, kp))
    tracks = []
    for observations in groups.values():
        seen: dict[int, int] = {}
        for img, kp in sorted(set(observations)):
            seen.setdefault(img, kp)
        if len(seen) >= 2:
            tracks.append(sorted(seen.items()))
    return tracks
