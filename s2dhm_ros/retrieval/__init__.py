"""Image retrieval: PCA-whitened global descriptors in a faiss index."""
from .index import build_index, search
from .pca import PcaWhitening

__all__ = ["PcaWhitening", "build_index", "search"]
