"""The map-build benchmark's generated references make a real map: the builder triangulates their tracks onto the
facades they were generated on, and the command prints and writes the per-stage table."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from s2dhm_ros.cli import main
from s2dhm_ros.config import MapBuilderConfig
from s2dhm_ros.evaluation.map_build_benchmark import FACADE_OFFSET_M, generated_references, run_benchmark
from s2dhm_ros.features import create_extractor
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


OPENCV_DENSE_SIFT = "3ed05aa"  # the last commit whose dense_sift ran OpenCV's SIFT.compute


@pytest.mark.slow  # two builds by an older commit, one of them extracting OpenCV dense SIFT (about a minute)
def test_baseline_builds_with_the_baseline_commits_code():
    """--baseline used to time the current code (the checkout's root came first on sys.path). The baseline's maps
    must now carry its own backbone fingerprint, the OpenCV dense SIFT one, on rendered and on generated inputs."""
    repo = Path(__file__).resolve().parents[1]
    if subprocess.run(["git", "-C", str(repo), "cat-file", "-e", f"{OPENCV_DENSE_SIFT}^{{commit}}"]).returncode:
        pytest.skip(f"commit {OPENCV_DENSE_SIFT} is not in this clone (shallow?)")
    rows = run_benchmark([4, 12], rendered_up_to=4, size=(320, 240), scheduler=None, baseline=OPENCV_DENSE_SIFT,
                         baseline_up_to=12, log=lambda row: None)
    assert [(r.references, r.input, r.builder) for r in rows] == [
        (4, "rendered", "current"), (4, "rendered", OPENCV_DENSE_SIFT),
        (12, "generated", "current"), (12, "generated", OPENCV_DENSE_SIFT)]
    current = create_extractor(MapBuilderConfig().features).fingerprint()
    assert [r.fingerprint for r in rows] == [current, "dense_sift:9de949f02a331478"] * 2
    assert "features" in {s["name"] for s in rows[1].stages}  # the baseline extracted its own features
    assert rows[0].points3D > 50 and rows[1].points3D > 50
    assert rows[3].points3D == rows[2].points3D  # the same generated features, read from the cache, no image
