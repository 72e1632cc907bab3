"""The speed benchmark: the paper path gives the optimised matcher's matches, and the report is complete."""
import argparse
import json

import pytest
import torch
import torch.nn.functional as F

from s2dhm_ros.config import MatcherConfig
from s2dhm_ros.evaluation.paper_path import match_paper_path
from s2dhm_ros.cli.speed_command import add_speed_parser
from s2dhm_ros.evaluation.speed import COLUMNS
from s2dhm_ros.localizer import STAGES
from s2dhm_ros.matching import match_sparse_to_dense


@pytest.mark.parametrize("fraction,alpha", [(0.006, 0.9), (0.05, 0.6), (0.12, 0.5)])
def test_paper_path_gives_the_optimised_matches(fraction, alpha):
    g = torch.Generator().manual_seed(0)
    hypercolumns = torch.randn(64, 24, 40, generator=g)
    # A repeated texture: 240 cells (more than rank k) near one vector v, so maps of keypoints near v are ambiguous.
    v = torch.randn(64, 1, 1, generator=g)
    hypercolumns[:, :6] = v + 0.05 * torch.randn(64, 6, 40, generator=g)
    hypercolumns = F.normalize(hypercolumns, dim=0)
    references = [F.normalize(torch.randn(p, 64, generator=g), dim=1) for p in (30, 1, 45)]
    references.append(F.normalize(v[:, 0, 0] + 0.05 * torch.randn(20, 64, generator=g), dim=1))
    # Half of the keypoints are planted near a query cell: unambiguous peaks among random maps.
    planted = hypercolumns.reshape(64, -1)[:, torch.randint(0, 24 * 40, (38,), generator=g)].T
    references.append(F.normalize(planted + 0.3 * torch.randn(38, 64, generator=g), dim=1))
    references = [r.half() for r in references]
    config = MatcherConfig(ratio_fraction=fraction, ratio_alpha=alpha, subcell_refinement=False, chunk_size=50)
    fast = match_sparse_to_dense(torch.cat(references), hypercolumns, config)
    slow = match_paper_path(references, hypercolumns, config)
    assert torch.equal(fast.rows, slow.rows) and torch.equal(fast.cols, slow.cols)
    assert torch.equal(fast.keep, slow.keep)
    assert torch.allclose(fast.peak, slow.peak, atol=1e-5) and torch.allclose(fast.kth, slow.kth, atol=1e-5)
    assert 0 < int(slow.keep.sum()) < len(slow.keep)  # both outcomes of the ratio test are exercised
    assert set(slow.timings) == {"correspondence_maps", "ratio_test"}


def test_paper_path_rejects_another_backbone():
    with pytest.raises(ValueError, match="channels"):
        match_paper_path([torch.zeros(3, 8)], torch.zeros(16, 4, 4), MatcherConfig())


def test_speed_command_writes_json_and_markdown(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_speed_parser(parser.add_subparsers())
    args = parser.parse_args(["speed", "--references", "3", "--keypoints", "40", "--num-references", "1", "2",
                              "--repeats", "2", "--warmup", "0", "--device", "cpu", "--out", str(tmp_path),
                              "--query-size", "192", "144", "--no-subcell-refinement"])
    assert args.func(args) == 0
    report = json.loads((tmp_path / "speed.json").read_text())
    assert [(r["num_references"], r["path"]) for r in report["rows"]] == [
        (1, "optimised"), (1, "paper"), (2, "optimised"), (2, "paper")]
    for row in report["rows"]:
        assert set(row["stages_ms"]) == set(STAGES)
        for stats in row["stages_ms"].values():
            assert 0 <= stats["median"] <= stats["p90"]
        assert row["peak_gpu_bytes"] is None
    for x in report["speedup"]:
        assert x["total"] > 0 and x["matching"] > 0
    for x in report["matching_alone"]:
        assert x["equivalence"]["same_kept_matches"] and x["equivalence"]["matches"] > 0
    memory = report["memory"]
    assert memory["keypoints_per_reference"] == 40
    assert memory["descriptors_bytes_per_reference"] == 40 * memory["descriptor_dim"] * 2  # fp16
    assert report["settings"]["query_size"] == [192, 144]
    markdown = (tmp_path / "speed.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| device | N | path"))
    for _, title in COLUMNS:
        assert f"| {title} |" in header
    assert "speed-up" in header
    assert header in capsys.readouterr().out
