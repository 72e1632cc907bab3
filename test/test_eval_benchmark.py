"""The benchmark bookkeeping with planted poses (submission lines, recall by condition, failures as misses, the
fallback to the top-1 retrieved reference's pose), and `s2dhm benchmark cmu-seasons|robotcar-seasons` end to end
on miniatures."""
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


def _robotcar_with_truth(tmp_path, frames):
    """The miniature RobotCar Seasons with ground truth for all three queries (a submission-format file):
    night 1 and 3, sun 5."""
    stamps = make_robotcar(tmp_path / "data", frames)
    truth_file = tmp_path / "truth.txt"
    truth_file.write_text("".join(f"rear/{stamps[i]}.jpg " + " ".join(
        f"{v:.12f}" for v in (*frames[i].cam_from_world.qvec, *frames[i].cam_from_world.t)) + "\n"
        for i in (1, 3, 5)))
    return stamps, read_robotcar_seasons(tmp_path / "data", groundtruth=truth_file, split="all")


def test_planted_robotcar_run(tmp_path, street):
    frames, _ = street
    stamps, split = _robotcar_with_truth(tmp_path, frames)
    planted = {f"rear/{stamps[1]}.jpg": _shifted(frames[1].cam_from_world, 0.4),  # medium and coarse
               f"rear/{stamps[3]}.jpg": None,  # failure
               f"rear/{stamps[5]}.jpg": frames[5].cam_from_world}  # exact

    def localize(query):
        pose = planted[query.submission_name]
        return SimpleNamespace(success=pose is not None, cam_from_world=pose, num_inliers=0 if pose is None else 42,
                               failure_reason=None if pose is not None else "too few inliers")

    results = localize_split(split, localize, progress=False, fallback_to_retrieval=False)
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
    assert data["queries"] == 3 and data["localized"] == 2 and data["submitted"] == 2
    assert data["fallback_to_retrieval"] == 0


def test_fallback_to_top1_retrieved_reference(tmp_path, street):
    """A failed query gets the pose of its top-1 retrieved reference (as the official S2DHM code): frame 3 falls
    back to reference frame 4, 1 m further along the street (1.009 m, 0.28° measured), inside the coarse threshold
    only; a failure that retrieved nothing stays out of the submission."""
    frames, _ = street
    stamps, split = _robotcar_with_truth(tmp_path, frames)
    ref = {i: f"overcast-reference/rear/{stamps[i]}.jpg" for i in (0, 2, 4, 6)}
    planted = {f"rear/{stamps[1]}.jpg": (_shifted(frames[1].cam_from_world, 0.4), [ref[0], ref[2]]),
               f"rear/{stamps[3]}.jpg": (None, [ref[4], ref[2], ref[6]]),  # PnP failed: falls back to frame 4
               f"rear/{stamps[5]}.jpg": (None, [])}  # failed, nothing retrieved: no pose

    def localize(query):
        pose, retrieved = planted[query.submission_name]
        return SimpleNamespace(success=pose is not None, cam_from_world=pose, num_inliers=0 if pose is None else 42,
                               failure_reason=None if pose is not None else "too few inliers", retrieved=retrieved)

    results = {r.name: r for r in localize_split(split, localize, progress=False)}
    night1, night3, sun = (results[f"rear/{stamps[i]}.jpg"] for i in (1, 3, 5))
    assert night1.pose_source == "pnp" and night1.fallback_reference is None
    assert night3.pose_source == "retrieval" and night3.fallback_reference == ref[4]
    assert np.allclose(night3.cam_from_world.matrix, frames[4].cam_from_world.matrix, atol=1e-9)
    assert night3.error_m == pytest.approx(1.0, abs=0.02) and night3.error_deg < 1.0
    assert night3.failure_reason == "too few inliers" and night3.num_inliers == 0
    assert sun.cam_from_world is None and sun.error_m == np.inf
    assert sun.failure_reason == "too few inliers; no retrieved reference to fall back to"

    paths = write_outputs(list(results.values()), tmp_path / "out", "robotcar-seasons", split.condition_groups)
    submitted = read_submission(paths["submission"])
    assert set(submitted) == {f"rear/{stamps[1]}.jpg", f"rear/{stamps[3]}.jpg"}
    assert np.allclose(submitted[f"rear/{stamps[3]}.jpg"].matrix, frames[4].cam_from_world.matrix, atol=1e-8)
    recall = paths["recall"].read_text()
    # night: query 1 at 0.4 m (medium, coarse), query 3 at ~1 m (coarse) -> 0 / 50 / 100 %; sun: failed -> 0
    assert "| night | 2 | 2 | 0.0 | 50.0 | 100.0 |" in recall
    assert "| sun | 1 | 0 | 0.0 | 0.0 | 0.0 |" in recall
    assert "1 of them are judged on the pose of their top-1 retrieved reference" in recall
    data = json.loads(paths["results"].read_text())
    assert (data["localized"], data["fallback_to_retrieval"], data["submitted"]) == (1, 1, 2)
    by_name = {r["name"]: r for r in data["results"]}
    assert by_name[f"rear/{stamps[3]}.jpg"]["pose_source"] == "retrieval"
    assert by_name[f"rear/{stamps[3]}.jpg"]["fallback_reference"] == ref[4]
    assert by_name[f"rear/{stamps[5]}.jpg"]["pose_source"] is None

    # reference poses given explicitly (the map's): a name it lacks gives no fallback
    results = localize_split(split, localize, progress=False, reference_poses={})
    assert all(r.pose_source != "retrieval" for r in results)
    assert "the top-1 reference overcast-reference/rear/" in results[1].failure_reason


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
    assert args.fallback_to_retrieval is True and args.split == "test"  # defaults: as the official code; v2 test
    args = parser.parse_args(["benchmark", "cmu-seasons", "--dataset", "d", "--out", "o",
                              "--no-fallback-to-retrieval"])
    assert args.fallback_to_retrieval is False


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


def test_cli_robotcar_end_to_end(tmp_path, street, capsys):
    """Real map building and localization (weight-free default backbone) on the miniature RobotCar Seasons: 320x240
    images (the cameras take the size from the JPEG headers), v2 test list (queries 3 and 5, png names; the v2
    training query 1 is left out), ground truth for the test queries in the submission format."""
    frames, _ = street
    stamps = make_robotcar(tmp_path / "robotcar", frames)
    truth_file = tmp_path / "truth.txt"
    truth_file.write_text("".join(f"rear/{stamps[i]}.png " + " ".join(
        f"{v:.12f}" for v in (*frames[i].cam_from_world.qvec, *frames[i].cam_from_world.t)) + "\n" for i in (3, 5)))
    parser = argparse.ArgumentParser()
    benchmark_commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["benchmark", "robotcar-seasons", "--dataset", str(tmp_path / "robotcar"),
                              "--groundtruth", str(truth_file), "--out", str(tmp_path / "out")])
    assert args.func(args) == 0
    assert (tmp_path / "out/maps/map.yaml").is_file()
    lines = (tmp_path / "out/robotcar-seasons_submission.txt").read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == [f"rear/{stamps[3]}.png", f"rear/{stamps[5]}.png"]
    submission = read_submission(tmp_path / "out/robotcar-seasons_submission.txt")
    for i in (3, 5):
        pose = submission[f"rear/{stamps[i]}.png"]
        assert np.linalg.norm(pose.center - frames[i].cam_from_world.center) < 0.25
    recall = (tmp_path / "out/recall.md").read_text()
    assert "| night | 1 | 1 | 100.0 | 100.0 | 100.0 |" in recall
    assert "| sun | 1 | 1 | 100.0 | 100.0 | 100.0 |" in recall
    assert "| night-all | 1 | 1 | 100.0 | 100.0 | 100.0 |" in recall
    assert "| all | 2 | 2 | 100.0 | 100.0 | 100.0 |" in recall
    data = json.loads((tmp_path / "out/results.json").read_text())
    assert (data["queries"], data["localized"], data["run"]["split"]) == (2, 2, "test")
    out = capsys.readouterr().out
    assert "localized 2/2 queries, 0 more with the pose of their top-1 retrieved reference" in out
    assert "night" in out and "0.25 m, 2°" in out
