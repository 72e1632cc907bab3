"""Compression of a map's local descriptors: C-dimensional hypercolumns, optionally PCA-reduced to d dimensions in
the map's principal basis, stored as codes and decoded back to C dimensions (and re-normalised) before matching, so
that the matcher and the query's dense features are unchanged. Codecs (bytes per keypoint):

* ``float16``: the d (or C) coefficients in half precision, 2 d.
* ``int8``: the coefficients as signed bytes, d. One step per dimension (not per vector): the coefficients of a
  PCA basis have very different spreads, one step per dimension follows them and costs nothing per keypoint. The
  step is the dimension's 99.9th |percentile| / 127 (of the fitted sample); the rarer larger values are clipped.
* ``pq``: a faiss product quantizer, M sub-quantizers of 256 centroids each (M must divide d), M bytes.

Measured cost: docs/map-format.md."""
from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

CODECS = ("float16", "int8", "pq")
FIT_SAMPLES = 100_000  # descriptors a codec is fitted on (a seeded sample of a larger map)
PQ_TRAIN_SAMPLES = 10_000  # of those, the product quantizer is trained on (faiss asks for >= 39 per centroid)
PQ_CENTROIDS = 256  # per sub-quantizer: one byte per code
INT8_CLIP_PERCENTILE = 99.9


@dataclass
class DescriptorCodec:
    kind: str  # one of CODECS
    mean: np.ndarray  # (C,) float32, subtracted before projecting
    components: np.ndarray | None  # (C, d) float32 orthonormal PCA basis by decreasing variance; None keeps all C
    normalize: bool  # the map's descriptors were unit vectors: decoded ones are re-normalised
    scale: np.ndarray | None = None  # int8: (d,) float32 step per dimension
    centroids: np.ndarray | None = None  # pq: (M, 256, d / M) float32

    @classmethod
    def fit(cls, descriptors: np.ndarray, kind: str = "float16", dim: int = 0, pq_subquantizers: int = 64,
            seed: int = 0) -> "DescriptorCodec":
        """descriptors: (P, C) -> a codec of (a sample of) them; dim: PCA dimensions, 0 keeps all C."""
        x = np.asarray(descriptors)
        if kind not in CODECS:
            raise ValueError(f"unknown descriptor codec {kind!r}; use one of {CODECS}")
        if x.ndim != 2 or not 0 <= dim < x.shape[1] or len(x) == 0:
            raise ValueError(f"cannot reduce descriptors of shape {x.shape} to {dim} dimensions")
        d = dim or x.shape[1]
        if kind == "pq" and (pq_subquantizers < 1 or d % pq_subquantizers):
            raise ValueError(f"pq_subquantizers ({pq_subquantizers}) must divide the descriptor dimension ({d})")
        if len(x) > FIT_SAMPLES:
            x = x[fit_rows(len(x), seed)]
        x = x.astype(np.float64)
        mean = x.mean(0)
        components = None
        if dim:
            _, eigenvectors = np.linalg.eigh((x - mean).T @ (x - mean))
            components = np.ascontiguousarray(eigenvectors[:, ::-1][:, :dim], dtype=np.float32)
        codec = cls(kind, mean.astype(np.float32), components, bool(np.allclose(np.linalg.norm(x, axis=1), 1.0,
                                                                                 atol=1e-2)))
        y = codec.project(x)
        if kind == "int8":
            codec.scale = (np.maximum(np.percentile(np.abs(y), INT8_CLIP_PERCENTILE, axis=0), 1e-12) / 127).astype(
                np.float32)
        elif kind == "pq":
            codec.centroids = _train_pq(y, pq_subquantizers, seed)
        return codec

    @property
    def input_dim(self) -> int:
        """C, the dimension of decoded descriptors."""
        return len(self.mean)

    @property
    def pca_dim(self) -> int:
        """d, the PCA dimensions kept; 0 when all C are."""
        return 0 if self.components is None else int(self.components.shape[1])

    @property
    def code_dim(self) -> int:
        """Columns of the stored codes: M for pq, else the (reduced) dimension."""
        return int(self.centroids.shape[0]) if self.kind == "pq" else self.pca_dim or self.input_dim

    @property
    def code_dtype(self) -> np.dtype:
        return np.dtype({"float16": np.float16, "int8": np.int8, "pq": np.uint8}[self.kind])

    def project(self, descriptors: np.ndarray) -> np.ndarray:
        """(n, C) -> (n, d) float32 centred (PCA) coefficients."""
        y = np.asarray(descriptors, np.float32) - self.mean
        return y @ self.components if self.components is not None else y

    def quantize(self, coefficients: np.ndarray) -> np.ndarray:
        """(n, d) float32 coefficients -> (n, code_dim) codes."""
        if self.kind == "float16":
            return coefficients.astype(np.float16)
        if self.kind == "int8":
            return np.clip(np.rint(coefficients / self.scale), -127, 127).astype(np.int8)
        return self._faiss_pq().compute_codes(np.ascontiguousarray(coefficients, np.float32))

    def encode(self, descriptors: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
        """(P, C) -> (P, code_dim) codes (in chunks: a map's descriptors need not fit in float32)."""
        out = np.empty((len(descriptors), self.code_dim), self.code_dtype)
        for start in range(0, len(descriptors), chunk):
            out[start:start + chunk] = self.quantize(self.project(descriptors[start:start + chunk]))
        return out

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(n, code_dim) codes -> (n, C) float32 descriptors."""
        if self.kind == "pq":
            M = len(self.centroids)
            y = self.centroids[np.arange(M), np.asarray(codes, np.intp)].reshape(len(codes), -1)
        else:
            y = np.asarray(codes, np.float32) * (self.scale if self.kind == "int8" else 1.0)
        x = (y @ self.components.T if self.components is not None else y) + self.mean
        if self.normalize:
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    def _faiss_pq(self) -> faiss.ProductQuantizer:
        M, ksub, dsub = self.centroids.shape
        pq = faiss.ProductQuantizer(M * dsub, M, int(np.log2(ksub)))
        faiss.copy_array_to_vector(np.ascontiguousarray(self.centroids, np.float32).ravel(), pq.centroids)
        return pq

    def to_arrays(self) -> dict[str, np.ndarray]:
        optional = {"components": self.components, "scale": self.scale, "centroids": self.centroids}
        return {"codec": np.array(self.kind), "mean": self.mean, "normalize": np.array(self.normalize),
                **{name: value for name, value in optional.items() if value is not None}}

    @classmethod
    def from_arrays(cls, arrays) -> "DescriptorCodec":
        """From to_arrays' npz; a map's descriptor_pca.npz of before the codecs (mean, components, normalize) is
        PCA + float16."""
        def optional(name: str) -> np.ndarray | None:
            return np.asarray(arrays[name], np.float32) if name in arrays else None

        kind = str(arrays["codec"]) if "codec" in arrays else "float16"
        return cls(kind, np.asarray(arrays["mean"], np.float32), optional("components"), bool(arrays["normalize"]),
                   optional("scale"), optional("centroids"))


def fit_rows(total: int, seed: int = 0) -> np.ndarray:
    """The sorted rows of a (total, C) descriptor array that `DescriptorCodec.fit` is fitted on: all of them up to
    FIT_SAMPLES, else a seeded sample. A caller that gathers these rows itself (the map builder, without ever
    holding every descriptor) fits the same codec."""
    if total <= FIT_SAMPLES:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, FIT_SAMPLES, replace=False))


def _train_pq(coefficients: np.ndarray, subquantizers: int, seed: int) -> np.ndarray:
    """(M, 256, d / M) centroids of a product quantizer trained on `coefficients`. A sample of fewer than 256
    descriptors (a tiny map) is repeated to 256, so that each descriptor gets a centroid of its own."""
    step = -(-len(coefficients) // PQ_TRAIN_SAMPLES)  # every step-th: all references are represented
    y = np.ascontiguousarray(coefficients[::step], np.float32)
    y = np.resize(y, (max(PQ_CENTROIDS, len(y)), y.shape[1]))
    pq = faiss.ProductQuantizer(y.shape[1], subquantizers, int(np.log2(PQ_CENTROIDS)))
    pq.cp.seed = seed
    pq.cp.min_points_per_centroid = 1  # no warning for small maps: their few descriptors are all there is
    pq.train(y)
    return faiss.vector_to_array(pq.centroids).reshape(subquantizers, PQ_CENTROIDS, -1).copy()
