"""Republishing the last map->odom between fixes: what is resent, its stamp (now + tf_future_dating_s), nothing before
the first fix or after a map reload, and a simulated stream where TF "now" never goes stale."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2dhm_ros.geometry import Pose
from s2dhm_ros.runtime.fix import Transform, make_fix
from s2dhm_ros.runtime.node_config import LocalizerNodeConfig
from s2dhm_ros.runtime.tf_republisher import TfRepublisher

S = 1_000_000_000
T0 = 1_700_000_000 * S
MAP_FROM_ODOM = Pose(Rotation.from_rotvec([0.0, 0.0, 0.4]).as_matrix(), [3.0, -1.0, 0.0])


def transform(stamp_ns, pose=MAP_FROM_ODOM, child="odom"):
    return Transform("map", child, pose, stamp_ns)


def test_default_is_on_at_10_hz_with_half_a_second_of_future_dating():
    settings = LocalizerNodeConfig()
    assert settings.tf_republish_rate_hz == 10.0 and settings.tf_future_dating_s == 0.5
    republisher = TfRepublisher(settings.tf_republish_rate_hz, settings.tf_future_dating_s)
    assert republisher.enabled and republisher.period_s == pytest.approx(0.1) and republisher.warning() is None


def test_nothing_is_republished_before_the_first_fix():
    republisher = TfRepublisher(10.0, 0.5)
    assert republisher.tick(T0) is None and republisher.tick(T0 + S) is None and republisher.last is None


def test_a_fix_is_sent_and_then_resent_stamped_now_plus_the_future_dating():
    republisher = TfRepublisher(10.0, 0.5)
    image_stamp = T0
    fix_tf = transform(image_stamp + S // 2)  # as make_fix stamps it: image stamp + tf_future_dating_s
    now = T0 + 2_600_000_000  # a CPU query later
    sent = republisher.on_fix(fix_tf, now)
    assert sent.stamp_ns == now + S // 2  # not image + 0.5 s, which is already 2.1 s in the past
    assert (sent.parent, sent.child, sent.parent_from_child) == ("map", "odom", MAP_FROM_ODOM)
    assert republisher.tick(now) is None  # same stamp again: tf2 would drop it as TF_REPEATED_DATA
    later = now + 100_000_000
    resent = republisher.tick(later)
    assert resent.stamp_ns == later + S // 2
    assert (resent.parent, resent.child) == ("map", "odom")
    assert np.allclose(resent.parent_from_child.matrix, MAP_FROM_ODOM.matrix)
    assert republisher.tick(later) is None  # a paused /clock (use_sim_time) sends nothing new
    assert republisher.tick(later - 10 * S).stamp_ns == later - 10 * S + S // 2  # a clock jumping back (bag loop)


def test_the_newest_fix_replaces_the_republished_transform():
    republisher = TfRepublisher(10.0, 0.5)
    republisher.on_fix(transform(T0), T0 + S)
    moved = Pose(np.eye(3), [5.0, 5.0, 0.0])
    republisher.on_fix(transform(T0 + 3 * S, moved), T0 + 4 * S)
    assert republisher.tick(T0 + 5 * S).parent_from_child is moved


def test_map_to_base_is_republished_without_an_odom_frame():
    republisher = TfRepublisher(10.0, 0.25)
    cam_from_world = (MAP_FROM_ODOM * Pose(np.eye(3), [0.0, 0.0, 1.0])).inverse()
    fix = make_fix(cam_from_world, None, T0, "camera", "map", LocalizerNodeConfig(base_frame="", odom_frame=""),
                   lambda *args: pytest.fail("no lookup needed"))
    republisher.on_fix(fix.tf, T0 + S)
    resent = republisher.tick(T0 + 2 * S)
    assert (resent.parent, resent.child, resent.stamp_ns) == ("map", "camera", T0 + 2 * S + S // 4)
    assert np.allclose(resent.parent_from_child.matrix, cam_from_world.inverse().matrix)


def test_a_map_reload_clears_it_and_a_fix_from_the_old_map_is_not_kept():
    republisher = TfRepublisher(10.0, 0.5)
    republisher.on_fix(transform(T0), T0 + S)
    in_flight = republisher.generation  # a localization starts on the old map...
    republisher.clear()  # ...the map is reloaded meanwhile
    assert republisher.tick(T0 + 2 * S) is None and republisher.last is None
    sent = republisher.on_fix(transform(T0 + S), T0 + 3 * S, in_flight)
    assert sent.stamp_ns == T0 + 3 * S + S // 2  # sent once, as any fix
    assert republisher.tick(T0 + 4 * S) is None  # but not resent: it was computed in the previous map
    republisher.on_fix(transform(T0 + 4 * S), T0 + 5 * S, republisher.generation)
    assert republisher.tick(T0 + 6 * S) is not None


def test_zero_rate_keeps_the_once_per_fix_behaviour():
    republisher = TfRepublisher(0.0, 0.5)
    fix_tf = transform(T0 + S // 2)
    assert not republisher.enabled and republisher.period_s is None
    assert republisher.on_fix(fix_tf, T0 + 3 * S) is fix_tf  # image stamp + future dating, unchanged
    assert republisher.tick(T0 + 4 * S) is None


def test_invalid_settings_and_gaps_are_reported():
    with pytest.raises(ValueError, match="tf_republish_rate_hz"):
        TfRepublisher(-1.0, 0.5)
    with pytest.raises(ValueError, match="tf_future_dating_s"):
        TfRepublisher(10.0, -0.1)
    assert "lookups at the current time will fail" in TfRepublisher(2.0, 0.5).warning()
    assert TfRepublisher(0.0, 0.0).warning() is None


def simulate(rate_hz, latency_s=2.6, fix_period_s=3.0, duration_s=20.0, future_dating_s=0.5):
    """Fixes every `fix_period_s` (image taken `latency_s` before), the timer every 1/rate: every send, in order."""
    republisher = TfRepublisher(rate_hz, future_dating_s)
    tick_ns = int(S / rate_hz) if rate_hz > 0 else None
    events = [(int(k * fix_period_s * S) + int(latency_s * S), "fix", k) for k in range(int(duration_s / fix_period_s))]
    if tick_ns:
        events += [(t, "tick", None) for t in range(0, int(duration_s * S), tick_ns)]
    sent = []
    for now, kind, k in sorted(events, key=lambda e: (e[0], e[1] != "fix")):
        if kind == "fix":
            image_ns = now - int(latency_s * S)
            tf = republisher.on_fix(transform(T0 + image_ns + int(future_dating_s * S), Pose(np.eye(3), [k, 0, 0])),
                                    T0 + now)
        else:
            tf = republisher.tick(T0 + now)
        if tf is not None:
            sent.append((T0 + now, tf))
    return sent


def newest_stamp_at(sent, now_ns):
    stamps = [tf.stamp_ns for when, tf in sent if when <= now_ns]
    return max(stamps) if stamps else None


def test_simulated_stream_keeps_tf_valid_now_and_never_interleaves_old_and_new_values():
    sent = simulate(rate_hz=10.0)
    first_fix = sent[0][0]
    for now in range(first_fix, first_fix + 15 * S, S // 20):  # a Nav2 lookup at the current time, every 50 ms
        assert newest_stamp_at(sent, now) >= now + S // 2 - S // 10  # always at least 0.4 s ahead of now
    stamps = [tf.stamp_ns for _, tf in sent]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # strictly increasing: tf2 keeps them all
    values = [tf.parent_from_child.t[0] for _, tf in sorted(sent, key=lambda s: s[1].stamp_ns)]
    switches = [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]
    assert switches == sorted(switches)  # in stamp order, each fix's value follows the previous one: no A, B, A


def test_without_republishing_tf_is_stale_at_the_current_time():
    """The audited problem: once per fix, stamped image + 0.5 s, after a 2.6 s query."""
    sent = simulate(rate_hz=0.0)
    for when, tf in sent:
        assert tf.stamp_ns < when  # already in the past when sent: every lookup "now" extrapolates
