"""Feature tracks: connected components of pairwise matches, computed on the whole match graph at once."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass
class Tracks:
    """T tracks in compressed form: track t observes keypoint `keypoint[k]` of image `image[k]` for k in
    offsets[t]:offsets[t+1], sorted by image. Flat arrays scale to millions of observations."""

    image: np.ndarray  # (N,) int64
    keypoint: np.ndarray  # (N,) int64
    offsets: np.ndarray  # (T+1,) int64

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def as_lists(self) -> list[list[tuple[int, int]]]:
        """[(image, keypoint), ...] per track: for tests and debugging, not for large maps."""
        pairs = list(zip(self.image.tolist(), self.keypoint.tolist()))
        return [pairs[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]


def build_tracks(num_keypoints: list[int], matches: dict[tuple[int, int], np.ndarray]) -> Tracks:
    """num_keypoints[i]: keypoints of image i; matches[(i, j)]: (K, 2) keypoint index pairs.

    A track that sees one image twice is inconsistent: it keeps only that image's lowest keypoint index.
    Tracks are ordered by their first (image, keypoint), so the result does not depend on the order of `matches`.
    """
    offsets = np.concatenate([[0], np.cumsum(num_keypoints, dtype=np.int64)])
    ends = [(offsets[i] + m[:, 0], offsets[j] + m[:, 1]) for (i, j), m in matches.items() if len(m)]
    if not ends:
        return Tracks(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64))
    a = np.concatenate([e[0] for e in ends]).astype(np.int64)
    b = np.concatenate([e[1] for e in ends]).astype(np.int64)
    nodes, edges = np.unique(np.concatenate([a, b]), return_inverse=True)  # matched keypoints only, sorted
    n = len(nodes)
    graph = coo_matrix((np.ones(len(a), np.int8), (edges[:len(a)], edges[len(a):])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    image = np.searchsorted(offsets, nodes, side="right") - 1
    keypoint = nodes - offsets[image]
    # Components are numbered in the order of their smallest node, i.e. of their first (image, keypoint).
    order = np.lexsort((keypoint, image, label))
    label, image, keypoint = label[order], image[order], keypoint[order]
    first_of_image = np.ones(n, bool)
    first_of_image[1:] = (label[1:] != label[:-1]) | (image[1:] != image[:-1])
    label, image, keypoint = label[first_of_image], image[first_of_image], keypoint[first_of_image]
    sizes = np.bincount(label)
    keep = sizes[label] >= 2
    label, image, keypoint = label[keep], image[keep], keypoint[keep]
    counts = np.bincount(label)
    counts = counts[counts > 0]
    return Tracks(image.astype(np.int64), keypoint.astype(np.int64),
                  np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
