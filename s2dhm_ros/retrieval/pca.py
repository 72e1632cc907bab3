"""PCA of global descriptors fitted on the reference set (paper: reduced to 1024 dims, as in [52]).

Whitening is a choice (`MapBuilderConfig.pca_whitening`, tested in test/test_pca_choice.py). The paper says
"PCA" and the public S2DHM code (germain-hug/S2DHM s2dhm/image_retrieval/pca.py) runs scikit-learn's `PCA`
with its default `whiten=False` on L2-normalised descriptors and re-normalises the output: plain PCA, a
rotation that keeps the descriptors' own metric. Whitening (ours by default) divides every principal
direction by its standard deviation, as Jégou & Chum [28] recommend for retrieval: frequent, bursty
directions stop dominating the cosine. Both centre on the reference mean and L2-normalise the output.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PcaWhitening:
    mean: np.ndarray  # (D,)
    projection: np.ndarray  # (D, d): principal directions, scaled by 1/sqrt(eigenvalue) when whitening

    @classmethod
    def fit(cls, descriptors: np.ndarray, dim: int, whiten: bool = True, eps: float = 1e-6) -> "PcaWhitening":
        """descriptors: (R, D). The output dim is min(dim, R - 1, D): more would keep (or whiten) pure noise.
        `whiten=False` is plain PCA, as the public S2DHM code."""
        x = np.asarray(descriptors, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"PCA needs at least 2 reference descriptors, got shape {x.shape}")
        mean = x.mean(0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        d = max(1, min(dim, len(x) - 1, x.shape[1]))
        projection = vt[:d].T
        if whiten:
            eig = s[:d] ** 2 / (len(x) - 1)
            projection = projection / np.sqrt(eig + eps * max(eig[0], eps))
        return cls(mean.astype(np.float32), projection.astype(np.float32))

    @property
    def dim(self) -> int:
        return int(self.projection.shape[1])

    def __call__(self, descriptors: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, d) projected (whitened or not) and L2-normalised."""
        y = (np.asarray(descriptors, dtype=np.float32) - self.mean) @ self.projection
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
