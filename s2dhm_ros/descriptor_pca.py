"""PCA compression of a map's local descriptors: C-dimensional hypercolumns stored as d float16 coefficients
in the map's principal basis, decoded back to C dimensions (and re-normalised) before matching, so that the
matcher and the query's dense features are unchanged. Measured cost: docs/map-format.md."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIT_SAMPLES = 100_000  # descriptors the basis is fitted on (a seeded sample of a larger map)


@dataclass
class DescriptorPca:
    mean: np.ndarray  # (C,) float32
    components: np.ndarray  # (C, d) float32, orthonormal columns, by decreasing variance
    normalize: bool  # the map's descriptors were unit vectors: decoded ones are re-normalised

    @classmethod
    def fit(cls, descriptors: np.ndarray, dim: int, seed: int = 0) -> "DescriptorPca":
        """descriptors: (P, C) -> the `dim` principal directions of (a sample of) them."""
        x = np.asarray(descriptors)
        if x.ndim != 2 or not 0 < dim < x.shape[1] or len(x) == 0:
            raise ValueError(f"cannot reduce descriptors of shape {x.shape} to {dim} dimensions")
        if len(x) > FIT_SAMPLES:
            x = x[np.sort(np.random.default_rng(seed).choice(len(x), FIT_SAMPLES, replace=False))]
        x = x.astype(np.float64)
        mean = x.mean(0)
        eigenvalues, eigenvectors = np.linalg.eigh((x - mean).T @ (x - mean))
        components = eigenvectors[:, ::-1][:, :dim]
        norms = np.linalg.norm(x, axis=1)
        return cls(mean.astype(np.float32), np.ascontiguousarray(components, dtype=np.float32),
                   bool(np.allclose(norms, 1.0, atol=1e-2)))

    @property
    def input_dim(self) -> int:
        return int(self.components.shape[0])

    @property
    def dim(self) -> int:
        return int(self.components.shape[1])

    def encode(self, descriptors: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
        """(P, C) -> (P, d) float16 coefficients (in chunks: a map's descriptors need not fit in float32)."""
        out = np.empty((len(descriptors), self.dim), np.float16)
        for start in range(0, len(descriptors), chunk):
            block = np.asarray(descriptors[start:start + chunk], np.float32)
            out[start:start + chunk] = (block - self.mean) @ self.components
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(n, d) coefficients -> (n, C) float32 descriptors."""
        x = np.asarray(codes, np.float32) @ self.components.T + self.mean
        if self.normalize:
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "components": self.components, "normalize": np.array(self.normalize)}

    @classmethod
    def from_arrays(cls, arrays) -> "DescriptorPca":
        return cls(np.asarray(arrays["mean"], np.float32), np.asarray(arrays["components"], np.float32),
                   bool(arrays["normalize"]))
