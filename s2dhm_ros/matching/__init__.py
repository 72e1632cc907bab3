"""2D-3D matching: sparse-to-dense (the paper's) and a sparse-to-sparse baseline."""
from .sparse_to_dense import DenseMatches, match_sparse_to_dense, ratio_test_rank

__all__ = ["DenseMatches", "match_sparse_to_dense", "ratio_test_rank"]
