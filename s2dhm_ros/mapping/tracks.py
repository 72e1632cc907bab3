"""Feature tracks: connected components of pairwise matches, by a vectorised union-find over the whole match graph.

Memory is what limits city-scale maps here (20,000 references give about 35 million matches), so the graph is
never materialised: keypoints get one global id each (int32 while they fit), every node points to a smaller node
of its component, and edges are hooked in chunks until both ends of each edge share a root. The root of a
component is then its smallest node, i.e. its first (image, keypoint), which orders the tracks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EDGES_PER_CHUNK = 1 << 22  # temporaries of one hooking step: a few bytes per edge of a chunk


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
    ids = np.int32 if offsets[-1] < np.iinfo(np.int32).max else np.int64
    a, b = _edges(offsets, matches, ids)
    if not len(a):
        return Tracks(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64))
    root = _components(int(offsets[-1]), a, b)
    matched = np.zeros(len(root), bool)
    matched[a] = True
    matched[b] = True
    del a, b
    nodes = np.flatnonzero(matched).astype(ids)  # sorted: by image, then keypoint
    label = root[nodes]
    order = np.argsort(label, kind="stable")  # by track (first node), then image and keypoint
    label, nodes = label[order], nodes[order]
    image = np.searchsorted(offsets, nodes, side="right") - 1
    keypoint = nodes - offsets[image]
    first_of_image = np.ones(len(nodes), bool)
    first_of_image[1:] = (label[1:] != label[:-1]) | (image[1:] != image[:-1])
    label, image, keypoint = label[first_of_image], image[first_of_image], keypoint[first_of_image]
    starts = np.flatnonzero(np.concatenate([[True], label[1:] != label[:-1], [True]]))
    sizes = np.diff(starts)
    keep = np.repeat(sizes >= 2, sizes)
    counts = sizes[sizes >= 2]
    return Tracks(image[keep].astype(np.int64), keypoint[keep].astype(np.int64),
                  np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


def _edges(offsets: np.ndarray, matches: dict[tuple[int, int], np.ndarray], ids: type) -> tuple[np.ndarray, ...]:
    """Both ends of every match as global keypoint ids (offsets[image] + keypoint), written into two arrays."""
    total = sum(len(m) for m in matches.values())
    a, b = np.empty(total, ids), np.empty(total, ids)
    k = 0
    for (i, j), m in matches.items():
        a[k:k + len(m)] = offsets[i] + m[:, 0]
        b[k:k + len(m)] = offsets[j] + m[:, 1]
        k += len(m)
    return a, b


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) the smallest node of each node's component in the graph of edges (a[k], b[k]).

    Every node points to a node no larger than itself, so the pointers never form a cycle and each root is its
    component's smallest node. Between steps every tree is a star (each node points at its root), so a root is
    one lookup. A chunk of edges is hooked (the larger root points to the smaller one, then pointer jumping makes
    stars again) until its edges are inside components; earlier chunks stay merged, since trees only join."""
    parent = np.arange(n, dtype=a.dtype)
    for start in range(0, len(a), EDGES_PER_CHUNK):
        u, v = a[start:start + EDGES_PER_CHUNK], b[start:start + EDGES_PER_CHUNK]
        while True:
            ru, rv = parent[u], parent[v]
            apart = ru != rv
            if not apart.any():
                break
            u, v, ru, rv = u[apart], v[apart], ru[apart], rv[apart]
            np.minimum.at(parent, np.maximum(ru, rv), np.minimum(ru, rv))
            parent = _jump_to_roots(parent)
    return parent


def _jump_to_roots(parent: np.ndarray) -> np.ndarray:
    """Pointer jumping until every node points at its root (halves every path per step)."""
    while True:
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent = up
