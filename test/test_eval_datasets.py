"""The RobotCar Seasons and Extended CMU Seasons readers on miniatures written in the published layouts."""
import numpy as np
import pytest

from eval_miniatures import cmu_name, make_cmu, make_robotcar
from s2dhm_ros.evaluation.datasets import read_cmu_seasons, read_robotcar_seasons
from s2dhm_ros.evaluation.datasets.robotcar_seasons import read_nvm_poses


def _same(a, b, atol=1e-6):
    return np.allclose(a.R, b.R, atol=atol) and np.allclose(a.t, b.t, atol=atol)


def test_robotcar_seasons(tmp_path, street):
    frames, _ = street
    stamps = make_robotcar(tmp_path, frames)
    split = read_robotcar_seasons(tmp_path)

    assert split.name == "robotcar-seasons"
    assert [f.name for f in split.references] == [f"overcast-reference/rear/{stamps[i]}.jpg" for i in (0, 2, 4, 6)]
    for frame, i in zip(split.references, (0, 2, 4, 6)):
        assert _same(frame.cam_from_world, frames[i].cam_from_world)
        assert frame.camera.model == "PINHOLE" and frame.camera.params == (400.0, 400.0, 508.222931, 498.187378)
        assert (frame.camera.width, frame.camera.height) == (1024, 1024)
        assert frame.stamp_ns == stamps[i] * 1000
    image = split.references[0].load()
    assert image.shape == frames[0].load().shape and image.dtype == np.uint8
    assert np.abs(image.astype(float) - frames[0].load()).mean() < 6  # JPEG round trip

    queries = {q.frame.name: q for q in split.queries}
    assert sorted(queries) == sorted([f"night/rear/{stamps[1]}.jpg", f"night/rear/{stamps[3]}.jpg",
                                      f"sun/rear/{stamps[5]}.jpg"])
    night = queries[f"night/rear/{stamps[1]}.jpg"]
    assert night.condition == "night" and night.submission_name == f"rear/{stamps[1]}.jpg"
    assert _same(night.frame.cam_from_world, frames[1].cam_from_world)  # from robotcar_v2_train.txt
    assert queries[f"night/rear/{stamps[3]}.jpg"].frame.cam_from_world is None
    sun = queries[f"sun/rear/{stamps[5]}.jpg"]
    assert sun.frame.camera.model == "SIMPLE_RADIAL"  # from the hloc query list
    assert split.condition_groups["night-all"] == ["night", "night-rain"]
    assert "sun" in split.condition_groups["day-all"]

    only_night = read_robotcar_seasons(tmp_path, ["night"])
    assert {q.condition for q in only_night.queries} == {"night"}


def test_robotcar_errors(tmp_path, street):
    with pytest.raises(FileNotFoundError, match="RobotCar Seasons root"):
        read_robotcar_seasons(tmp_path)
    make_robotcar(tmp_path, street[0])
    with pytest.raises(ValueError, match="unknown RobotCar Seasons condition"):
        read_robotcar_seasons(tmp_path, ["noon"])
    nvm = tmp_path / "3D-models/all-merged/all.nvm"
    nvm.write_text(nvm.read_text().replace("NVM_V3\n\n5", "NVM_V3\n\n7"))
    with pytest.raises(ValueError, match="camera line .1. has 1 fields"):
        read_nvm_poses(nvm)


def test_cmu_seasons(tmp_path, street):
    frames, _ = street
    camera = frames[0].camera
    make_cmu(tmp_path, frames, camera.width, camera.params)
    splits = read_cmu_seasons(tmp_path)
    assert [s.name for s in splits] == ["slice2", "slice19"]

    urban, park = splits
    assert [f.name for f in urban.references] == [cmu_name(i, "c0") for i in (0, 2, 4, 6)]
    for frame, i in zip(urban.references, (0, 2, 4, 6)):
        assert _same(frame.cam_from_world, frames[i].cam_from_world)
        assert frame.camera.model == "OPENCV" and frame.camera.params[:4] == camera.params
        assert frame.stamp_ns == (1303398475046031 + 66666 * i) * 1000
    assert np.abs(urban.references[1].load().astype(float) - frames[2].load()).mean() < 6

    assert [q.submission_name for q in urban.queries] == [cmu_name(1, "c0"), cmu_name(3, "c0")]
    assert all(q.condition == "urban" for q in urban.queries)
    assert _same(urban.queries[0].frame.cam_from_world, frames[1].cam_from_world)
    assert urban.queries[1].frame.cam_from_world is None
    assert [q.condition for q in park.queries] == ["park"]
    assert _same(park.queries[0].frame.cam_from_world, frames[5].cam_from_world)

    assert [s.name for s in read_cmu_seasons(tmp_path, [19])] == ["slice19"]


def test_cmu_errors(tmp_path, street):
    frames, _ = street
    with pytest.raises(FileNotFoundError, match="no slice"):
        read_cmu_seasons(tmp_path)
    make_cmu(tmp_path, frames, 320, frames[0].camera.params)
    (tmp_path / "slice2/test-images-slice2.txt").write_text("img_00001_c7_1303398475046031us.jpg\n")
    with pytest.raises(ValueError, match="camera c7"):
        read_cmu_seasons(tmp_path, [2])
    (tmp_path / "slice2/test-images-slice2.txt").write_text("img_00099_c0_1303398475046031us.jpg\n")
    with pytest.raises(FileNotFoundError, match="missing"):
        read_cmu_seasons(tmp_path, [2])
