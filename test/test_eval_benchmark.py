"""The benchmark bookkeeping with planted poses (submission lines, recall by condition, failures as misses), and
`s2dhm benchmark cmu-seasons` end to end on a miniature slice."""
import argparse
import json
from types import SimpleNamespace

import numpy as np
import pytest

from eval_miniatures import cmu_name, make_cmu, make_robotcar
from s2dhm_ros.cli import benchmark_commands
from s2dhm_ros.evaluation.benchmark import localize_split, write_outputs
from s2dhm_ros.evaluation.datasets import read_robotcar_seasons
from s2dhm_ros.evaluation.submission import read_submission
from s2dhm_ros.geometry import Pose


def _shifted(pose: Pose, metres: float) -> Pose:
    """The same orientation with the camera centre moved `metres` along world x."""
    return Pose(pose.R, pose.t - pose.R @ np.array([metres, 0.0, 0.0]))


def test_planted_robotcar_run(tmp_path, street):
    frames, _ = street
    stamps = make_robotcar(tmp_path / "data", frames)
    split = read_robotcar_seasons(tmp_path / "data", groundtruth=None)
    # Ground truth for all three queries (a submission-format file): night 1 and 3, sun 5.
    truth_file = tmp_path / "truth.txt"
    truth_file.write_text("".join(f"rear/{stamps[i]}.jpg " + " ".join(
        f"{v:.12f}" for v in (*frames[i].cam_from_world.qvec, *frames[i].cam_from_world.t)) + "\n"
        for i in (1, 3, 5)))
    split = read_robotcar_seasons(tmp_path / "data", groundtruth=truth_file)
    planted = {f"rear/{stamps[1]}.jpg": _shifted(frames[1].cam_from_world, 0.4),  # medium and coarse
               f"rear/{stamps[3]}.jpg": None,  # failure
               f"rear/{stamps[5]}.jpg": frames[5].cam_from_world}  # exact

    def localize(query):
        pose = planted[query.submission_name]
        return SimpleNamespace(success=pose is not None, cam_from_world=pose, num_inliers=0 if pose is None else 42,
                               failure_reason=None if pose is not None else "too few inliers")

    results = localize_split(split, localize, progress=False)
    by_name = {r.name: r for r in results}
    assert by_name[f"rear/{stamps[1]}.jpg"].error_m == pytest.approx(0.4)
    assert by_name[f"rear/{stamps[3]}.jpg"].error_m == np.inf
    assert by_name[f"rear/{stamps[3]}.jpg"].failure_reason == "too few inliers"

    paths = write_outputs(results, tmp_path / "out", "robotcar-seasons", split.condition_groups)
    lines = paths["submission"].read_text().splitlines()
    assert len(lines) == 2  # the failure is left out: the benchmark counts it as a miss
    expected = frames[5].cam_from_world
    assert f"rear/{stamps[5]}.jpg " + " ".join(f"{v + 0.0:.10g}" for v in (*expected.qvec, *expected.t)) in lines
    assert set(read_submission(paths["submission"])) == {f"rear/{stamps[1]}.jpg", f"rear/{stamps[5]}.jpg"}

    recall = paths["recall"].read_text()
    # night: query 1 at 0.4 m (medium, coarse), query 3 failed -> 0 / 50 / 50 %; sun: exact -> 100 %
    assert "| night | 2 | 1 | 0.0 | 50.0 | 50.0 |" in recall
    assert "| sun | 1 | 1 | 100.0 | 100.0 | 100.0 |" in recall
    assert "| night-all | 2 | 1 | 0.0 | 50.0 | 50.0 |" in recall
    assert "| all | 3 | 2 | 33.3 | 66.7 | 66.7 |" in recall
    data = json.loads(paths["results"].read_text())
    assert data["queries"] == 3 and data["localized"] == 2


def test_paper_settings_per_benchmark():
    parser = argparse.ArgumentParser()
    benchmark_commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["benchmark", "cmu-seasons", "--dataset", "d", "--out", "o", "--weights", "w.pth"])
    config = benchmark_commands.localizer_config(args)
    assert (config.retrieval.num_references, config.matcher.ratio_fraction) == (10, 0.12)
    assert (config.features.backbone, config.features.weights) == ("vgg16", "w.pth")
    args = parser.parse_args(["benchmark", "robotcar-seasons", "--dataset", "d", "--out", "o",
                              "--num-references", "5"])
    config = benchmark_commands.localizer_config(args)
    assert (config.retrieval.num_references, config.matcher.ratio_fraction) == (5, 0.006)


def test_cli_cmu_end_to_end(tmp_path, street, capsys):
    """Real map building and localization (weight-free default backbone) on a miniature slice 2."""
    frames, _ = street
    make_cmu(tmp_path / "cmu", frames, frames[0].camera.width, frames[0].camera.params)
    parser = argparse.ArgumentParser()
    benchmark_commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["benchmark", "cmu-seasons", "--dataset", str(tmp_path / "cmu"), "--slices", "2",
                              "--out", str(tmp_path / "out")])
    assert args.func(args) == 0
    assert (tmp_path / "out/maps/slice2/map.yaml").is_file()
    submission = read_submission(tmp_path / "out/cmu-seasons_submission.txt")
    assert cmu_name(1, "c0") in submission and set(submission) <= {cmu_name(1, "c0"), cmu_name(3, "c0")}
    # query 1 (the one with ground truth) is localized within the high-precision threshold
    assert "| urban | 1 | 1 | 100.0 | 100.0 | 100.0 |" in (tmp_path / "out/recall.md").read_text()
    out = capsys.readouterr().out
    assert "urban" in out and "0.25 m, 2°" in out
    # a second run reuses the map
    assert args.func(args) == 0
    assert "reusing the map" in capsys.readouterr().out
