"""The Markdown report with its plots, the localize-bag adapter, and TUM trajectory files."""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2dhm_ros.evaluation.report import PLOTS, ReportFrame, write_bag_report, write_report
from s2dhm_ros.io.tum import format_stamp, parse_stamp, read_tum, write_tum
from s2dhm_ros.geometry import Pose

NS = 1_000_000_000


def _trajectory(n=30):
    """map_from_camera along a gentle curve, one pose per 0.1 s from a UNIX-like stamp."""
    stamps = [1_700_000_000 * NS + i * 100_000_000 + 7 for i in range(n)]
    poses = [Pose(Rotation.from_euler("z", 2 * i, degrees=True).as_matrix(), [i * 0.5, np.sin(i / 5), 1.5])
             for i in range(n)]
    return stamps, poses


def _frames():
    stamps, truth = _trajectory()
    frames = []
    for i, (stamp, gt) in enumerate(zip(stamps, truth)):
        if i % 10 == 9:
            estimate = None  # failure
        else:
            offset = [0.1, 0.0, 0.0] if i % 3 else [0.0, 0.0, 0.0]  # 0.1 m off: within 0.25 m anyway
            estimate = Pose(gt.R, gt.t + np.array(offset) + (1.0 if i == 4 else 0.0))
        frames.append(ReportFrame(stamp, estimate, None if i == 0 else gt, 0 if estimate is None else 100 + i,
                                  0.05 + 0.001 * i))
    return frames


def test_report_files(tmp_path):
    frames = _frames()
    path = write_report(frames, tmp_path / "report", "test run", {"map": "maps/demo", "stride": 1})
    text = path.read_text()
    # 29 frames with ground truth; 3 failures (i = 9, 19, 29) and frame 4 is off by 1.73 m (coarse only)
    assert "Localized 27 of 30 images (90.0 %); 29 with ground truth." in text
    assert f"| all | 29 | 26 | {100 * 25 / 29:.1f} | {100 * 25 / 29:.1f} | {100 * 26 / 29:.1f} |" in text
    assert "| map | maps/demo |" in text and "median 64.5 ms" in text
    for name in PLOTS.values():
        png = tmp_path / "report" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"]({name})" in text
    assert not list((tmp_path / "report").glob(".*partial"))


def test_errors_of_a_frame():
    gt = Pose(np.eye(3), [1.0, 2.0, 3.0])
    assert ReportFrame(0, None, gt).errors == (np.inf, np.inf)
    assert ReportFrame(0, gt, None).errors is None
    dt, dr = ReportFrame(0, Pose(Rotation.from_euler("x", 3, degrees=True).as_matrix(), [1.0, 2.0, 3.3]), gt).errors
    assert dt == pytest.approx(0.3) and dr == pytest.approx(3.0)


def test_bag_report_adapter(tmp_path):
    """write_bag_report reads the FrameRecord / BagLocalizationRun fields of evaluation.bag_localization."""
    stamps, truth = _trajectory(5)
    records = [SimpleNamespace(stamp_ns=s, success=i != 2, map_from_camera=g if i != 2 else None, groundtruth=g,
                               num_inliers=50, timings={"total": 0.1}) for i, (s, g) in enumerate(zip(stamps, truth))]
    run = SimpleNamespace(bag="demo.bag", map="maps/demo", image_topic="/camera/image_raw", stride=1,
                          map_frame="map", groundtruth="/tf", wall_time_s=0.5)
    text = write_bag_report(records, run, {"seconds_per_image": 0.1}, tmp_path).read_text()
    assert "Localized 4 of 5 images" in text and "| all | 5 | 4 | 80.0 | 80.0 | 80.0 |" in text
    assert "| image topic | /camera/image_raw |" in text


def test_tum_round_trip(tmp_path):
    stamps, poses = _trajectory()
    path = write_tum(tmp_path / "traj.tum", stamps, poses)
    lines = path.read_text().splitlines()
    assert lines[0] == "# timestamp tx ty tz qx qy qz qw" and len(lines) == 31
    assert lines[1].split()[0] == "1700000000.000000007"
    back_stamps, back = read_tum(path)
    assert back_stamps == stamps  # exact to the nanosecond
    for a, b in zip(poses, back):
        assert np.allclose(a.R, b.R, atol=1e-8) and np.allclose(a.t, b.t, atol=1e-8)


def test_tum_line_by_hand(tmp_path):
    # 90° about z: (qx, qy, qz, qw) = (0, 0, sin 45°, cos 45°); the quaternion comes last, w at the end
    write_tum(tmp_path / "t.tum", [1_500_000_000], [Pose([[0, -1, 0], [1, 0, 0], [0, 0, 1]], [1.0, 2.0, 3.0])])
    assert (tmp_path / "t.tum").read_text().splitlines()[1] == \
        "1.500000000 1.000000000 2.000000000 3.000000000 0.000000000 0.000000000 0.707106781 0.707106781"
    assert parse_stamp("12.5") == 12_500_000_000 and parse_stamp("3") == 3 * NS
    assert format_stamp(12_500_000_000) == "12.500000000"
    (tmp_path / "bad.tum").write_text("1.0 1 2 3\n")
    with pytest.raises(ValueError, match="bad.tum:1"):
        read_tum(tmp_path / "bad.tum")
