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
import scipy.linalg

FIT_SAMPLES = 8192  # references the PCA is fitted on: bounds the eigenproblem to 8192 x 8192 (NetVLAD's D is 32768)
CHUNK = 2048  # rows per product when accumulating the covariance or the Gram matrix


@dataclass
class PcaWhitening:
    mean: np.ndarray  # (D,)
    projection: np.ndarray  # (D, d): principal directions, scaled by 1/sqrt(eigenvalue) when whitening

    @classmethod
    def fit(cls, descriptors: np.ndarray, dim: int, whiten: bool = True, eps: float = 1e-6,
            max_samples: int = FIT_SAMPLES) -> "PcaWhitening":
        """descriptors: (R, D). The output dim is min(dim, R - 1, D): more would keep (or whiten) pure noise.
        `whiten=False` is plain PCA, as the public S2DHM code.

        Fitted on at most `max_samples` references (a seeded sample of a larger map), from the eigenvectors of
        the smaller of the D x D covariance and the R x R Gram matrix, accumulated in chunks: an SVD of all of
        a 20,000-reference map's 5376-d descriptors took minutes and GBs (measured: 50 s and 2.7 GB at 8,000)."""
        x = np.asarray(descriptors)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"PCA needs at least 2 reference descriptors, got shape {x.shape}")
        if len(x) > max_samples:
            x = x[np.sort(np.random.default_rng(0).choice(len(x), max_samples, replace=False))]
        mean = x.mean(0, dtype=np.float64)
        d = max(1, min(dim, len(x) - 1, x.shape[1]))
        projection, eig = _principal_directions(x, mean, d)
        if whiten:
            projection = projection / np.sqrt(eig + eps * max(eig[0], eps))
        return cls(mean.astype(np.float32), projection.astype(np.float32))

    @property
    def dim(self) -> int:
        return int(self.projection.shape[1])

    def __call__(self, descriptors: np.ndarray) -> np.ndarray:
        """(N, D) -> (N, d) projected (whitened or not) and L2-normalised."""
        y = (np.asarray(descriptors, dtype=np.float32) - self.mean) @ self.projection
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)


def _principal_directions(x: np.ndarray, mean: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """The d leading principal directions (D, d) of x (R, D) and their variances (d,), in decreasing order.
    Products run over chunks of CHUNK rows or columns in float64, so memory stays at the R x D input plus the
    min(R, D)-square matrix."""
    R, D = x.shape
    if D <= R:  # the D x D scatter matrix, accumulated over chunks of rows
        scatter = np.zeros((D, D))
        for a in range(0, R, CHUNK):
            rows = np.asarray(x[a:a + CHUNK], np.float64) - mean
            scatter += rows.T @ rows
        values, vectors = _leading_eigenpairs(scatter, d)
        return vectors, np.maximum(values, 0) / (R - 1)
    # R < D: the R x R Gram matrix over chunks of columns; x^T maps its eigenvectors to the scatter matrix's
    columns = [slice(a, min(a + CHUNK, D)) for a in range(0, D, CHUNK)]
    gram = np.zeros((R, R))
    for c in columns:
        block = np.asarray(x[:, c], np.float64) - mean[c]
        gram += block @ block.T
    values, vectors = _leading_eigenpairs(gram, d)
    values = np.maximum(values, 0)
    directions = np.empty((D, d))
    for c in columns:
        directions[c] = (np.asarray(x[:, c], np.float64) - mean[c]).T @ vectors
    # Orthonormalised in order (QR keeps the span of each leading set of columns): the leading directions come
    # out as x^T v / sqrt(value) up to sign, and directions of (numerically) zero variance, which that division
    # would blow up, become unit vectors orthogonal to them, as the SVD's are.
    return np.linalg.qr(directions)[0], values / (R - 1)


def _leading_eigenpairs(symmetric: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """The d largest eigenvalues (decreasing) of a symmetric matrix and their eigenvectors (columns). Only those
    are computed (LAPACK's MRRR): less time and workspace than the whole decomposition (8 s against 11 s for a
    5376-square matrix and d = 1024)."""
    n = len(symmetric)
    values, vectors = scipy.linalg.eigh(symmetric, subset_by_index=[n - d, n - 1], driver="evr",
                                        overwrite_a=True, check_finite=False)
    return values[::-1], vectors[:, ::-1]
