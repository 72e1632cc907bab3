"""Top-N reference retrieval: faiss inner product over whitened, normalised global descriptors."""
from __future__ import annotations

import faiss
import numpy as np


def build_index(descriptors: np.ndarray) -> faiss.Index:
    """descriptors: (R, d) L2-normalised -> exact inner-product index (cosine similarity)."""
    x = np.ascontiguousarray(descriptors, dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    return index


def search(index: faiss.Index, query: np.ndarray, top_n: int) -> tuple[np.ndarray, np.ndarray]:
    """query: (d,) -> indices (n,) and similarities (n,) of the n = min(top_n, R) best references."""
    n = min(top_n, index.ntotal)
    scores, ids = index.search(np.ascontiguousarray(query[None], dtype=np.float32), n)
    return ids[0], scores[0]
