"""The navigation behaviour of the localizer node without ROS, on rendered street images with a real map and the
real localizer: retrieval near a prior from the last fix + odometry, a wrong initialpose dropped after repeated
failures (global retrieval again), the Mahalanobis gate, trigger mode, bad input, the per-frame quality, and a map
reloaded while a frame is being localized (its fix is stale)."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2dhm_ros.config import MapBuilderConfig
from s2dhm_ros.geometry import Pose
from s2dhm_ros.localizer import Localizer
from s2dhm_ros.mapping.builder import build_map
from s2dhm_ros.runtime.frame_processor import FAILED, PUBLISHED, REJECTED, SKIPPED, STALE, FrameProcessor
from s2dhm_ros.runtime.node_config import LocalizerNodeConfig, PriorConfig

S = 1_000_000_000
MAP_FROM_ODOM = Pose(Rotation.from_rotvec([0.0, 0.0, 0.2]).as_matrix(), [3.0, -2.0, 0.0])
QUERIES = (3, 5)  # held out of the map
SECOND = 1.0  # the street frames are 1 m and 1 s apart


@pytest.fixture(scope="module")
def street_map(street):
    frames, _ = street
    sparse_map, _ = build_map([f for i, f in enumerate(frames) if i not in QUERIES], MapBuilderConfig(),
                              progress=False)
    return Localizer(sparse_map)


class StreetTf:
    """tf2 for the street drive: camera_optical <- base_link (the mount) and odom -> base_link at each stamp."""

    def __init__(self, frames):
        from s2dhm_ros.synthetic.trajectory import camera_mount
        self.base_from_camera = camera_mount()
        self.map_from_base = {i * S: f.cam_from_world.inverse() * self.base_from_camera.inverse()
                              for i, f in enumerate(frames)}
        self.broken_odometry = False

    def __call__(self, target, source, stamp_ns):
        if (target, source) == ("camera_optical", "base_link"):
            return self.base_from_camera.inverse()
        if (target, source) == ("base_link", "camera_optical"):
            return self.base_from_camera
        if (target, source) == ("odom", "base_link") and stamp_ns in self.map_from_base:
            if self.broken_odometry:  # what the node's lookup raises for NaN odometry
                raise LookupError("transform odom <- base_link is not a valid pose (pose contains NaN)")
            return MAP_FROM_ODOM.inverse() * self.map_from_base[stamp_ns]
        raise LookupError(f"no transform {target} <- {source} at {stamp_ns}")


def settings(**prior):
    return LocalizerNodeConfig(base_frame="base_link", odom_frame="odom", tf_future_dating_s=0.0,
                               prior=PriorConfig(**{"search_radius_m": 1.5, "max_failures": 2, **prior}))


def run(processor, localizer, frames, i, loads=None, map_generation=None):
    """Frame i through the processor, begun with the map of `map_generation` (default: the one in service)."""
    def load():
        if loads is not None:
            loads.append(i)
        return frames[i].load()
    generation = processor.map_generation if map_generation is None else map_generation
    return processor.process(localizer, load, frames[i].camera, i * S, "camera_optical", "map", generation)


def position_error(outcome, tf):
    return float(np.linalg.norm(outcome.fix.pose.map_from_frame.t - tf.map_from_base[outcome.stamp_ns].t))


def test_prior_from_fix_and_odometry_restricts_retrieval(street, street_map):
    frames, _ = street
    tf = StreetTf(frames)
    processor = FrameProcessor(settings(), tf)
    first = run(processor, street_map, frames, 3)
    assert first.status == PUBLISHED and first.prior is None and first.region is None
    assert first.result.num_candidates is None and len(first.result.retrieved) == 6  # the whole map
    assert position_error(first, tf) < 0.25
    # REP-105: map->odom recovered from the fix and odom->base at the image stamp
    assert np.linalg.norm(first.fix.tf.parent_from_child.t - MAP_FROM_ODOM.t) < 0.25
    quality = first.quality()
    assert quality.level == "OK" and quality.values["prior_used"] == "False" and quality.values["candidates"] == "all"
    assert int(quality.values["inliers"]) >= 15 and float(quality.values["position_std_m"]) < 0.5

    second = run(processor, street_map, frames, 5)  # 2 m of odometry later
    assert second.status == PUBLISHED and second.prior.source == "fix" and second.region is not None
    near = {frames[i].name for i in (4, 6, 7)}  # camera centres within 1.5 m + 3 sigma of the predicted camera
    assert 0 < second.result.num_candidates <= 3 and set(second.result.retrieved) <= near
    assert second.gate.accepted and position_error(second, tf) < 0.25
    assert second.quality().values["prior_used"] == "True"


def test_wrong_initialpose_fails_then_falls_back_to_global(street, street_map):
    frames, _ = street
    tf = StreetTf(frames)
    processor = FrameProcessor(settings(), tf)
    wrong = tf.map_from_base[3 * S] * Pose(np.eye(3), [40.0, 0.0, 0.0])  # 40 m down the road, confident
    covariance = np.diag([0.25, 0.25, 0.0, 0.0, 0.0, 0.05])
    message = processor.set_initial_pose(wrong, covariance, 3 * S, "map", "map")
    assert "position std 0.50 m" in message
    outcomes = [run(processor, street_map, frames, 3) for _ in range(3)]
    assert [o.status for o in outcomes] == [FAILED, FAILED, PUBLISHED]
    assert "no candidate reference" in outcomes[0].reason and outcomes[0].result.num_candidates == 0
    assert [o.prior_dropped for o in outcomes] == [False, True, False] and outcomes[2].prior is None
    assert position_error(outcomes[2], tf) < 0.25 and processor.priors.dropped == 1


def test_gate_rejects_a_fix_far_from_the_prior(street, street_map):
    frames, _ = street
    tf = StreetTf(frames)
    processor = FrameProcessor(settings(max_position_std_m=0.1), tf)  # a 0.3 m prior is not confident: global
    off = tf.map_from_base[3 * S] * Pose(np.eye(3), [0.0, 4.0, 0.0])  # 4 m to the side
    processor.set_initial_pose(off, np.diag([0.09, 0.09, 0.0, 0.0, 0.0, 0.05]), 3 * S, "map", "map")
    rejected = run(processor, street_map, frames, 3)
    assert rejected.status == REJECTED and rejected.region is None and not rejected.gate.accepted
    assert rejected.gate.axes == (0, 1) and rejected.gate.mahalanobis_sq > 100  # ~16 m^2 / 0.09 m^2
    values = rejected.quality().values
    assert rejected.quality().level == "WARN" and values["outcome"] == "rejected"
    assert float(values["gate_mahalanobis_sq"]) > 100 and float(values["gate_threshold"]) == pytest.approx(13.82,
                                                                                                           abs=0.01)
    again = run(processor, street_map, frames, 3)
    assert again.status == REJECTED and again.prior_dropped and processor.priors.rejected == 2
    assert run(processor, street_map, frames, 3).status == PUBLISHED  # the prior is gone: the fix is believed


def test_trigger_mode_localizes_once_per_request(street, street_map):
    frames, _ = street
    processor = FrameProcessor(LocalizerNodeConfig(base_frame="base_link", odom_frame="odom",
                                                   enable_continuous_localization=False), StreetTf(frames))
    loads = []
    assert run(processor, street_map, frames, 3, loads).status == SKIPPED and loads == []  # not even decoded
    processor.control.trigger()
    assert run(processor, street_map, frames, 3, loads).status == PUBLISHED and loads == [3]
    assert run(processor, street_map, frames, 5, loads).status == SKIPPED
    processor.control.set_paused(True)
    processor.control.trigger()
    assert run(processor, street_map, frames, 5, loads).status == SKIPPED
    assert processor.state()["frames_skipped"] == "3" and processor.state()["paused"] == "True"


def test_bad_input_is_reported_not_raised(street, street_map):
    frames, _ = street
    tf = StreetTf(frames)
    processor = FrameProcessor(settings(), tf)
    pose, covariance = tf.map_from_base[3 * S], np.diag([0.25, 0.25, 0, 0, 0, 0.05])
    with pytest.raises(ValueError, match="in frame 'odom', priors must be in the map frame 'map'"):
        processor.set_initial_pose(pose, covariance, 3 * S, "odom", "map")
    with pytest.raises(ValueError, match="no map loaded"):
        processor.set_initial_pose(pose, covariance, 3 * S, "map", None)
    assert not processor.priors.has_prior
    assert run(processor, street_map, frames, 3).status == PUBLISHED  # sets a prior with odometry
    tf.broken_odometry = True
    outcome = run(processor, street_map, frames, 5)
    # odometry lost: no prediction (global retrieval), the fix is still published, without map->odom
    assert outcome.status == PUBLISHED and outcome.prior is None and outcome.fix.tf is None
    assert "not a valid pose" in outcome.fix.tf_error and any("no odometry" in n for n in outcome.notes)
    assert "no odometry" in outcome.quality().values["notes"]


class ReloadedWhileLocalizing:
    """The localizer of the map in service when a frame began; `~/reload_map` swaps maps while it localizes."""

    def __init__(self, localizer, processor):
        self._localizer, self._processor = localizer, processor

    def references_near(self, *args, **kwargs):
        return self._localizer.references_near(*args, **kwargs)

    def localize(self, *args, **kwargs):
        result = self._localizer.localize(*args, **kwargs)
        self._processor.on_map_loaded()
        return result


def test_a_fix_from_the_map_replaced_during_localization_is_stale(street, street_map):
    frames, _ = street
    tf = StreetTf(frames)
    processor = FrameProcessor(settings(), tf)
    assert run(processor, street_map, frames, 3).status == PUBLISHED and processor.priors.has_prior
    begun_with = processor.map_generation
    stale = run(processor, ReloadedWhileLocalizing(street_map, processor), frames, 5, map_generation=begun_with)
    assert stale.result.success and stale.status == STALE and "reloaded" in stale.reason
    assert not processor.priors.has_prior  # neither the old map's prior nor this fix became the new map's prior
    assert processor.state()["frames_stale"] == "1" and stale.quality().level == "WARN"
    assert not processor.still_current(stale) and processor.state()["frames_stale"] == "1"  # counted once
    # A frame begun with the new map is published; one begun with the old map, even if it finishes later, is not.
    assert run(processor, street_map, frames, 5).status == PUBLISHED
    late = run(processor, street_map, frames, 3, map_generation=begun_with)
    assert late.status == STALE and processor.state()["frames_stale"] == "2"
