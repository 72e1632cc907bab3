"""The sparse-to-dense matcher finds planted peaks and the ratio test of Eq. (1) rejects ambiguity."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from s2dhm_ros.config import MatcherConfig
from s2dhm_ros.matching import match_sparse_to_dense, ratio_test_rank
from s2dhm_ros.matching.nearest_neighbor import mutual_nearest_neighbors


def _dense(C=32, H=20, W=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(C, H, W, generator=g), dim=0)


def test_planted_peaks_are_found_at_their_cells():
    dense = _dense()
    cells = [(0, 0), (5, 7), (19, 29), (10, 3)]
    desc = torch.stack([dense[:, i, j] for i, j in cells])
    m = match_sparse_to_dense(desc, dense, MatcherConfig(ratio_fraction=0.01, chunk_size=3, subcell_refinement=False))
    assert m.rows.tolist() == [c[0] for c in cells]
    assert m.cols.tolist() == [c[1] for c in cells]
    assert torch.allclose(m.peak, torch.ones(4), atol=1e-5)
    assert m.keep.all()  # random other cells correlate at ~0, far below 0.9 * peak


def test_ambiguous_map_is_rejected_and_kth_value_is_exact():
    dense = _dense(H=10, W=10)
    d = dense[:, 2, 2].clone()
    # a repeated structure: the same descriptor at 3 more places -> 4 equal peaks
    for i, j in [(7, 7), (2, 8), (8, 1)]:
        dense[:, i, j] = d
    cfg = MatcherConfig(ratio_fraction=0.02, ratio_alpha=0.9)  # k = 2: the third-best cell
    assert ratio_test_rank(100, 0.02) == 2
    m = match_sparse_to_dense(torch.stack([d, dense[:, 5, 5]]), dense, cfg)
    assert not m.keep[0]  # rank-2 value equals the peak: ambiguous
    assert m.keep[1]
    scores = (torch.stack([d, dense[:, 5, 5]]) @ dense.reshape(dense.shape[0], -1)).sort(dim=1, descending=True).values
    assert torch.allclose(m.kth, scores[:, 2])  # the partial selection equals a full sort's rank k


def test_ratio_threshold_boundary():
    """keep <=> C[k] <= alpha * C[0] (our reading of Eq. (1))."""
    C, H, W = 3, 1, 4
    dense = torch.zeros(C, H, W)
    dense[0, 0, 0] = 1.0  # peak 1.0
    dense[:, 0, 1] = torch.tensor([0.85, (1 - 0.85 ** 2) ** 0.5, 0])  # second best 0.85
    dense[:, 0, 2] = torch.tensor([0.0, 0.0, 1.0])
    dense[:, 0, 3] = torch.tensor([0.0, 0.0, 1.0])
    desc = torch.tensor([[1.0, 0.0, 0.0]])
    assert match_sparse_to_dense(desc, dense, MatcherConfig(ratio_fraction=0.25, ratio_alpha=0.9)).keep.item()
    assert not match_sparse_to_dense(desc, dense, MatcherConfig(ratio_fraction=0.25, ratio_alpha=0.8)).keep.item()


def test_wrong_descriptor_dimension_is_a_clear_error():
    with pytest.raises(ValueError, match="another backbone"):
        match_sparse_to_dense(torch.zeros(3, 16), _dense(C=32), MatcherConfig())


def test_mutual_nearest_neighbors_ratio():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 16)).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    perm = rng.permutation(50)
    b = a[perm] + 0.01 * rng.normal(size=(50, 16)).astype(np.float32)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    pairs = mutual_nearest_neighbors(a, b, ratio=0.8, chunk=7)
    assert len(pairs) == 50
    assert np.all(perm[pairs[:, 1]] == pairs[:, 0])


def test_subcell_refinement_recovers_the_vertex_of_a_smooth_peak():
    """Correlation maps shaped as a parabola around (r0, c0) = (6.3, 9.8): the refined peak is the vertex."""
    H, W = 15, 20
    r0, c0 = 6.3, 9.8
    rr, cc = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    surface = 1 - 0.01 * ((rr - r0) ** 2 + (cc - c0) ** 2)
    # dense features whose correlation with d = e0 is exactly `surface`, the rest of the norm in e1
    dense = torch.zeros(2, H, W, dtype=torch.float64)
    dense[0] = surface
    dense[1] = torch.sqrt(1 - surface ** 2)
    d = torch.tensor([[1.0, 0.0]])
    m = match_sparse_to_dense(d, dense.float(), MatcherConfig(ratio_fraction=0.01))
    assert abs(m.rows.item() - r0) < 1e-3 and abs(m.cols.item() - c0) < 1e-3
    coarse = match_sparse_to_dense(d, dense.float(), MatcherConfig(ratio_fraction=0.01, subcell_refinement=False))
    assert (coarse.rows.item(), coarse.cols.item()) == (6, 10)
