"""Statistics, stamp matching, the /initialpose policy and the debug image."""
import itertools

import numpy as np
import pytest

from s2dhm_ros.runtime.debug_image import draw_inliers
from s2dhm_ros.runtime.initial_pose import InitialPosePolicy
from s2dhm_ros.runtime.stamp_matcher import StampMatcher
from s2dhm_ros.runtime.stats import ERROR, OK, WARN, RuntimeStats, reason_key


def test_stats_summarise_rate_latency_ratio_and_reasons():
    clock = itertools.count(0.0, 0.5)  # one fix every 0.5 s
    stats = RuntimeStats(window=10, clock=lambda: next(clock))
    assert stats.diagnostic(map_loaded=False).level == ERROR
    assert stats.diagnostic(map_loaded=True).level == OK and stats.success_ratio is None
    for latency in (0.1, 0.2, 0.3):
        stats.record_success(latency)
    stats.record_failure("no reference gave a pose with >= 15 inliers (37 matches passed the ratio test)")
    stats.record_failure("no reference gave a pose with >= 15 inliers (2 matches passed the ratio test)")
    assert stats.success_ratio == pytest.approx(0.6)
    assert stats.rate_hz == pytest.approx(2.0)
    assert stats.latency_percentiles()[0] == pytest.approx(0.2)
    d = stats.diagnostic(map_loaded=True, received=9, dropped=4)
    assert d.level == OK
    assert d.values["frames_dropped"] == "4" and d.values["fixes"] == "3" and d.values["failures"] == "2"
    assert d.values["failure: no reference gave a pose with >= N inliers"] == "2"
    for _ in range(5):
        stats.record_failure("image decoding failed: bad data")
    assert stats.diagnostic(map_loaded=True).level == WARN
    waiting = RuntimeStats().diagnostic(map_loaded=True, unmatched=3)
    assert waiting.level == WARN and waiting.values["images_without_camera_info"] == "3"


def test_failure_reasons_are_bounded():
    stats = RuntimeStats(max_reasons=3)
    for word in "abcdefgh":
        stats.record_failure(f"reason {word}")
    assert len(stats.failure_reasons) == 4 and stats.failure_reasons["other"] == 5
    assert reason_key("query image is 640x480: too small") == "query image is NxN"


def test_stamp_matcher_pairs_either_order_within_tolerance_and_is_bounded():
    m = StampMatcher(tolerance_ns=1000, capacity=3)
    assert m.add_image(10_000, "img0") is None
    assert m.add_info(10_500, "info0") == (10_000, "img0", "info0")
    assert m.add_info(20_000, "info1") is None
    assert m.add_image(20_000, "img1") == (20_000, "img1", "info1")
    assert m.add_image(40_000, "img2") is None and m.add_info(45_000, "far") is None  # beyond tolerance
    for s in range(100):
        m.add_image(100_000 + 10_000 * s, s)
    assert len(m) <= 6
    assert m.unmatched_images == 98  # img2 and 100 more images, 3 kept


def test_initial_pose_policy():
    assert not InitialPosePolicy("off").take()
    with pytest.raises(ValueError):
        InitialPosePolicy("off").request()
    first = InitialPosePolicy("first_fix")
    assert [first.take(), first.take()] == [True, False]
    demand = InitialPosePolicy("on_demand")
    assert not demand.take()
    demand.request()
    assert [demand.take(), demand.take()] == [True, False]
    with pytest.raises(ValueError, match="publish_initialpose"):
        InitialPosePolicy("always")


def test_debug_image_marks_inliers_and_keeps_the_input():
    image = np.zeros((100, 200, 3), np.uint8)
    out = draw_inliers(image, np.array([[50.5, 60.5]]), "42 inliers")
    assert out.shape == image.shape and out.dtype == np.uint8 and not image.any()
    assert tuple(out[60, 50]) == (0, 255, 0)
    assert draw_inliers(image, None, "failed").shape == image.shape
