"""PCA-whitening of global descriptors, fitted on the reference set (paper: reduced to 1024 dims, as in [52])."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PcaWhitening:
    mean: np.ndarray  # (D,)
    projection: np.ndarray  # (D, d): principal directions scaled by 1/sqrt(eigenvalue)

    @classmethod
    def fit(cls, descriptors: np.ndarray, dim: int, eps: float = 1e-6) -> "PcaWhitening":
        """descriptors: (R, D). The output dim is min(dim, R - 1, D): more would whiten pure noise."""
        x = np.asarray(descriptors, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"PCA needs at least 2 reference descriptors, got shape {x.shape}")
        mean = x.mean(0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        d = max(1, min(dim, len(x) - 1, x.shape[1]))
        eig = s[:d] ** 2 / (len(x) - 1)
        projection = vt[:d].T / np.sqrt(eig + eps * max(eig[0], eps))
        return cls(mean.astype(np.float32), projection.astype(np.float32))

    @property
    def dim(self) -> int:
        return int(self.projection.shape[1])

    def __call__(self, descriptors: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, d) whitened and L2-normalised."""
        y = (np.asarray(descriptors, dtype=np.float32) - self.mean) @ self.projection
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
