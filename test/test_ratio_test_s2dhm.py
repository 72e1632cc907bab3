"""`matcher.ratio_test: s2dhm` is the public S2DHM code's ratio test exactly: the value at 0-based rank
k - 1 (its `topk(k)[-1]`) against alpha**2 times the peak, with k = int(f * H * W)."""
import torch
import torch.nn.functional as F

from s2dhm_ros.config import MatcherConfig
from s2dhm_ros.matching import match_sparse_to_dense
from s2dhm_ros.matching.sparse_to_dense import ratio_test_index


def _planted(values: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """A (3, 1, len(values)) dense map whose correlation with descriptor e0 is exactly `values`, cell by cell."""
    v = torch.tensor(values, dtype=torch.float64)
    dense = torch.stack([v, torch.sqrt(1 - v ** 2), torch.zeros_like(v)])[:, None, :].float()
    return torch.tensor([[1.0, 0.0, 0.0]]), dense


def _public_code_keep(correlations: torch.Tensor, fraction: float, alpha: float) -> torch.Tensor:
    """The public code's formula, written out: topk(int(f * H * W)), keep iff alpha**2 * top[0] >= top[-1]."""
    top = correlations.topk(int(fraction * correlations.shape[1]), dim=1).values
    return alpha ** 2 * top[:, 0] >= top[:, -1]


def test_planted_map_tells_rank_k_minus_1_from_rank_k():
    # 10 cells, f = 0.2 -> k = 2. Sorted: 1.0, 0.85, 0.6, ... The public code compares 0.85 (rank 1) with
    # 0.81 * 1.0 and rejects; the paper reading with alpha = 0.81 compares 0.6 (rank 2) and keeps, and so
    # would an off-by-one "s2dhm" variant using rank k with alpha**2.
    desc, dense = _planted([0.1, 0.6, 1.0, 0.2, 0.85, 0.0, 0.3, 0.1, 0.2, 0.05])
    assert ratio_test_index(10, 0.2, "s2dhm") == 1 and ratio_test_index(10, 0.2, "paper") == 2
    s2dhm = match_sparse_to_dense(desc, dense, MatcherConfig(ratio_test="s2dhm", ratio_alpha=0.9,
                                                             ratio_fraction=0.2, subcell_refinement=False))
    paper = match_sparse_to_dense(desc, dense, MatcherConfig(ratio_test="paper", ratio_alpha=0.81,
                                                             ratio_fraction=0.2, subcell_refinement=False))
    assert abs(s2dhm.kth.item() - 0.85) < 1e-6 and not s2dhm.keep.item()
    assert abs(paper.kth.item() - 0.6) < 1e-6 and paper.keep.item()
    # second-best just under alpha**2 = 0.81: the public code keeps it
    desc, dense = _planted([0.1, 0.6, 1.0, 0.2, 0.80, 0.0, 0.3, 0.1, 0.2, 0.05])
    assert match_sparse_to_dense(desc, dense, MatcherConfig(ratio_test="s2dhm", ratio_alpha=0.9, ratio_fraction=0.2,
                                                            subcell_refinement=False)).keep.item()


def test_s2dhm_ratio_test_equals_the_public_formula_on_random_maps():
    g = torch.Generator().manual_seed(3)
    C, H, W = 32, 40, 50
    dense = F.normalize(torch.randn(C, H * W, generator=g), dim=0)
    desc = dense[:, torch.randperm(H * W, generator=g)[:150]].T.clone()
    for d in desc:  # repeated structure: 0..119 near-copies of each descriptor elsewhere, so both outcomes occur
        copies = int(torch.randint(0, 120, (1,), generator=g))
        cells = torch.randint(0, H * W, (copies,), generator=g)
        dense[:, cells] = F.normalize(d[:, None] + 0.08 * torch.randn(C, copies, generator=g), dim=0)
    dense = dense.reshape(C, H, W)
    correlations = desc @ dense.reshape(C, -1)
    for fraction, alpha in [(0.006, 0.9), (0.01, 0.9), (0.02, 0.85)]:
        m = match_sparse_to_dense(desc, dense, MatcherConfig(ratio_test="s2dhm", ratio_alpha=alpha,
                                                             ratio_fraction=fraction, chunk_size=97))
        expected = _public_code_keep(correlations, fraction, alpha)
        assert 10 < int(expected.sum()) < len(desc) - 10
        assert torch.equal(m.keep, expected)


def test_unknown_ratio_test_is_a_clear_error():
    import pytest
    desc, dense = _planted([1.0, 0.5, 0.2])
    with pytest.raises(ValueError, match="ratio_test"):
        match_sparse_to_dense(desc, dense, MatcherConfig(ratio_test="lowe"))
