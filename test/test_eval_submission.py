"""The visuallocalization.net submission format against hand-computed lines, and its reader."""
import numpy as np
import pytest

from s2dhm_ros.evaluation.submission import read_submission, submission_line, write_submission
from s2dhm_ros.geometry import Pose

# 90° about z: x -> y. Quaternion (w, x, y, z) = (cos 45°, 0, 0, sin 45°) = (0.7071067812, 0, 0, 0.7071067812).
RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
# 180° about x: quaternion (0, 1, 0, 0).
RX180 = np.diag([1.0, -1.0, -1.0])


def test_lines_by_hand():
    assert submission_line("rear/1418235223450115.jpg", Pose(RZ90, [1.0, -2.5, 3.0])) == \
        "rear/1418235223450115.jpg 0.7071067812 0 0 0.7071067812 1 -2.5 3"
    assert submission_line("img_00122_c0_1303398475046031us.jpg", Pose(RX180, [0.0, 0.125, -10.0])) == \
        "img_00122_c0_1303398475046031us.jpg 0 1 0 0 0 0.125 -10"
    assert submission_line("a.jpg", Pose.identity()) == "a.jpg 1 0 0 0 0 0 0"


def test_w_is_first_and_non_negative():
    # -90° about z: q = (cos(-45°), 0, 0, sin(-45°)); w stays positive, z negative.
    line = submission_line("q.jpg", Pose(RZ90.T, np.zeros(3)))
    assert line == "q.jpg 0.7071067812 0 0 -0.7071067812 0 0 0"


def test_translation_is_world_to_camera():
    """The line carries t of cam_from_world, not the camera centre."""
    pose = Pose(RZ90, [1.0, 0.0, 0.0])  # centre = -R^T t = (0, 1, 0)
    assert np.allclose(pose.center, [0.0, 1.0, 0.0])
    assert submission_line("q.jpg", pose).endswith(" 1 0 0")


def test_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    poses = {}
    for i in range(20):
        q = rng.normal(size=4)
        poses[f"rear/{1418235223450115 + i}.jpg"] = Pose.from_qvec_tvec(q / np.linalg.norm(q), rng.normal(size=3) * 100)
    path = write_submission(tmp_path / "sub" / "robotcar_submission.txt", poses.items())
    lines = path.read_text().splitlines()
    assert len(lines) == 20 and all(len(line.split()) == 8 for line in lines)
    assert not list(path.parent.glob("*.partial"))
    back = read_submission(path)
    assert list(back) == list(poses)
    for name, pose in poses.items():
        assert np.allclose(back[name].R, pose.R, atol=1e-8) and np.allclose(back[name].t, pose.t, atol=1e-6)


def test_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="whitespace"):
        submission_line("my image.jpg", Pose.identity())
    with pytest.raises(ValueError, match="twice"):
        write_submission(tmp_path / "s.txt", [("a.jpg", Pose.identity()), ("a.jpg", Pose.identity())])
    bad = tmp_path / "bad.txt"
    bad.write_text("a.jpg 1 0 0 0 0 0\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        read_submission(bad)
    bad.write_text("a.jpg 2 0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match="norm"):
        read_submission(bad)
