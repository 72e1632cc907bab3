"""The RobotCar Seasons and Extended CMU Seasons readers on miniatures written in the published layouts."""
import cv2
import numpy as np
import pytest

from eval_miniatures import cmu_name, make_cmu, make_robotcar
from s2dhm_ros.evaluation.datasets import read_cmu_seasons, read_robotcar_seasons
from s2dhm_ros.evaluation.datasets.robotcar_seasons import read_nvm_poses, read_rear_intrinsics


def _same(a, b, atol=1e-6):
    return np.allclose(a.R, b.R, atol=atol) and np.allclose(a.t, b.t, atol=atol)


def test_robotcar_seasons(tmp_path, street):
    frames, _ = street
    stamps = make_robotcar(tmp_path, frames)
    split = read_robotcar_seasons(tmp_path, split="all")

    assert split.name == "robotcar-seasons"
    assert [f.name for f in split.references] == [f"overcast-reference/rear/{stamps[i]}.jpg" for i in (0, 2, 4, 6)]
    for frame, i in zip(split.references, (0, 2, 4, 6)):
        assert _same(frame.cam_from_world, frames[i].cam_from_world)
        # rear_intrinsics.txt of the miniature: f = 0.78 * 320, centred; the size comes from the JPEG headers
        assert frame.camera.model == "PINHOLE" and frame.camera.params == (249.6, 249.6, 160.0, 120.0)
        assert (frame.camera.width, frame.camera.height) == (320, 240)
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
    assert (sun.frame.camera.width, sun.frame.camera.height) == (320, 240)
    assert split.condition_groups["night-all"] == ["night", "night-rain"]
    assert "sun" in split.condition_groups["day-all"]

    only_night = read_robotcar_seasons(tmp_path, ["night"], split="all")
    assert {q.condition for q in only_night.queries} == {"night"}


def test_robotcar_v2_splits(tmp_path, street):
    """robotcar_v2_test.txt (`rear/<ts>.png`, no condition) selects the test queries, named as listed; the v2
    training query (frame 1) is left out of the default split and is the whole "train" split."""
    stamps = make_robotcar(tmp_path, street[0])
    test = read_robotcar_seasons(tmp_path)
    assert [(q.frame.name, q.condition, q.submission_name) for q in test.queries] == [
        (f"night/rear/{stamps[3]}.jpg", "night", f"rear/{stamps[3]}.png"),
        (f"sun/rear/{stamps[5]}.jpg", "sun", f"rear/{stamps[5]}.png")]
    assert all(q.frame.cam_from_world is None for q in test.queries)
    assert [q.submission_name for q in read_robotcar_seasons(tmp_path, ["sun"]).queries] == [f"rear/{stamps[5]}.png"]
    train = read_robotcar_seasons(tmp_path, split="train")
    assert [(q.submission_name, q.frame.cam_from_world is not None) for q in train.queries] == [
        (f"rear/{stamps[1]}.jpg", True)]
    # v1 layout (no test list): every query image, as before
    (tmp_path / "robotcar_v2_test.txt").unlink()
    assert len(read_robotcar_seasons(tmp_path).queries) == 3
    # a listed test image that is nowhere under images/
    (tmp_path / "robotcar_v2_test.txt").write_text(f"rear/{stamps[3]}.png\nrear/{stamps[7]}.png\nleft/1.png\n")
    with pytest.raises(FileNotFoundError, match=f"lists 1 rear image.*rear/{stamps[7]}.png"):
        read_robotcar_seasons(tmp_path)
    with pytest.raises(ValueError, match="unknown RobotCar Seasons split"):
        read_robotcar_seasons(tmp_path, split="val")


def test_robotcar_image_sizes(tmp_path, street):
    """The cameras take the size of the images (the published intrinsics are for 1024x1024); sizes that disagree
    are reported when the dataset is read, not when the localizer meets the first odd image."""
    frames, _ = street
    stamps = make_robotcar(tmp_path, frames)
    odd = tmp_path / "images/overcast-reference/rear" / f"{stamps[2]}.jpg"
    cv2.imwrite(str(odd), cv2.resize(cv2.imread(str(odd)), (1024, 1024)))
    with pytest.raises(ValueError, match=r"one size.*320x240: 3 image\(s\).*1024x1024: 1 image\(s\), e\.g\. "
                                         rf".*{stamps[2]}\.jpg"):
        read_robotcar_seasons(tmp_path)
    cv2.imwrite(str(odd), frames[2].load()[:, :, ::-1])
    query = tmp_path / "images/night/rear" / f"{stamps[3]}.jpg"
    cv2.imwrite(str(query), cv2.resize(cv2.imread(str(query)), (160, 120)))
    with pytest.raises(ValueError, match=rf"query .*{stamps[3]}\.jpg is 160x120 but its camera .* says 320x240"):
        read_robotcar_seasons(tmp_path)
    cv2.imwrite(str(query), frames[3].load()[:, :, ::-1])
    # the published (1024x1024) intrinsics on 320x240 images: the principal point lies outside
    (tmp_path / "intrinsics/rear_intrinsics.txt").write_text(
        "fx 400.000000\nfy 400.000000\ncx 508.222931\ncy 498.187378\n")
    with pytest.raises(ValueError, match=r"principal point \(508.223, 498.187\) lies outside the 320x240 images"):
        read_robotcar_seasons(tmp_path)
    assert read_rear_intrinsics(tmp_path / "intrinsics/rear_intrinsics.txt").width == 1024  # the published size


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
