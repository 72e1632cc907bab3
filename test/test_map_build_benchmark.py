"""The map-build benchmark's generated references make a real map: the builder triangulates their tracks onto the
facades they were generated on, and the command prints and writes the per-stage table."""
import json

import numpy as np

from s2dhm_ros.cli import main
from s2dhm_ros.config import MapBuilderConfig
from s2dhm_ros.evaluation.map_build_benchmark import FACADE_OFFSET_M, generated_references
from s2dhm_ros.mapping.builder import build_map


def test_generated_references_triangulate_onto_their_facades(tmp_path):
    frames = generated_references(30, tmp_path / "features", MapBuilderConfig())
    sparse_map, summary = build_map(frames, cache_dir=tmp_path / "features", progress=False)  # no image is read
    assert summary.points3D > 300 and summary.mean_reprojection_error_px < 1.0
    assert np.median(np.abs(np.abs(sparse_map.points3D[:, 1]) - FACADE_OFFSET_M)) < 0.1
    assert [s.name for s in summary.stages] == ["features", "pairs", "matching", "tracks", "triangulation", "assembly"]


def test_benchmark_command_writes_the_table(tmp_path, capsys):
    assert main(["benchmark", "map-build", "--references", "12", "--rendered-up-to", "0",
                 "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "map_build.json").read_text())
    assert [r["references"] for r in rows] == [12] and rows[0]["input"] == "generated"
    assert {s["name"] for s in rows[0]["stages"]} >= {"matching", "triangulation", "save"}
    assert rows[0]["points3D"] > 50 and rows[0]["peak_rss_mb"] > 50
    assert "| 12 | generated | current |" in capsys.readouterr().out
