"""Top-N reference retrieval: faiss inner product over whitened, normalised global descriptors.

Exact search below `ivf_min_references` references; from there an inverted-file index (IVF: the
descriptors clustered into about sqrt(R) lists, `nprobe` of them searched per query), whose cost grows
with R / nlist * nprobe instead of R. Its top-N agreement with exact search is tested on clustered data
(test/test_retrieval_index.py) and measured by `s2dhm benchmark map-open`.
"""
from __future__ import annotations

import faiss
import numpy as np


def build_index(descriptors: np.ndarray, ivf_min_references: int = 5000, seed: int = 0) -> faiss.Index:
    """descriptors: (R, d) L2-normalised -> inner-product (cosine) index: exact, or IVF for R >= ivf_min_references
    (0 disables IVF)."""
    x = np.ascontiguousarray(descriptors, dtype=np.float32)
    R, d = x.shape
    if not ivf_min_references or R < ivf_min_references:
        index = faiss.IndexFlatIP(d)
        index.add(x)
        return index
    nlist = int(np.clip(round(np.sqrt(R)), 1, R // 39 or 1))  # faiss wants >= 39 training points per list
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed  # k-means initialisation: the same map gives the same index
    index.train(x)
    index.add(x)
    return index


def search(index: faiss.Index, query: np.ndarray, top_n: int, nprobe: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """query: (d,) -> indices (n,) and similarities (n,) of the n = min(top_n, R) best references. `nprobe`: the
    inverted lists an IVF index searches (ignored by exact indexes)."""
    n = min(top_n, index.ntotal)
    x = np.ascontiguousarray(query[None], dtype=np.float32)
    params = faiss.SearchParametersIVF(nprobe=nprobe) if isinstance(index, faiss.IndexIVF) else None
    scores, ids = index.search(x, n, params=params)
    keep = ids[0] >= 0  # an IVF search of too few lists can return fewer than n
    return ids[0][keep], scores[0][keep]
