"""The bag-to-map glue the `map_builder` node runs, and the node on real rclpy: parameters, exit status, Ctrl-C."""
import signal
from types import SimpleNamespace

import pytest

import real_ros
from s2dhm_ros.config import MapBuilderConfig, flatten, to_dict
from s2dhm_ros.io.bag_source import BagReadStats, BagSourceConfig
from s2dhm_ros.mapping.builder import BuildSummary
from s2dhm_ros.runtime import map_from_bag
from s2dhm_ros.runtime.node_config import MapBuilderNodeConfig


@pytest.fixture
def calls(monkeypatch):
    """frames_from_bag and build_map replaced by recorders (the real ones are tested with real bags elsewhere)."""
    record = SimpleNamespace(frames=None, build=None)

    def frames_from_bag(bag, source, on_image=None):
        record.frames = (bag, source)
        stats = BagReadStats(images_total=4)
        for i in range(4):
            stats.images_seen, stats.kept = i + 1, (i + 1) // 2
            if on_image is not None:
                on_image(stats)
        return ([] if "empty" in bag else ["frame0", "frame1"]), stats

    def build_map(frames, config, output, metadata, frame_id, progress, cache_dir=None, engine=None):
        if "readonly" in str(output):
            raise PermissionError(f"cannot write {output}")
        record.build = SimpleNamespace(frames=frames, config=config, output=output, metadata=metadata,
                                       frame_id=frame_id)
        return None, BuildSummary(2, 100, 150, 0.4, 1)

    monkeypatch.setattr(map_from_bag, "frames_from_bag", frames_from_bag)
    monkeypatch.setattr(map_from_bag, "build_map", build_map)
    monkeypatch.setattr(map_from_bag, "_bag_identity", lambda bag: {"bag_bytes": 123, "bag_modified_ns": 456})
    return record


def test_build_map_from_bag_records_provenance(calls, tmp_path):
    settings = MapBuilderNodeConfig(bag=str(tmp_path / "day"), output=str(tmp_path / "map"),
                                    source=BagSourceConfig(map_frame="world", image_topic="/cam/image"))
    report = map_from_bag.build_map_from_bag(settings, MapBuilderConfig(), on_image=lambda stats: None)
    assert calls.frames == (settings.bag, settings.source)
    assert calls.build.frame_id == "world" and calls.build.output == settings.output
    assert calls.build.metadata["source"]["bag"] == str(tmp_path / "day")
    assert calls.build.metadata["source"]["image_topic"] == "/cam/image"
    assert calls.build.metadata["source"]["bag_bytes"] == 123
    assert report.build.points3D == 100 and report.bag.images_total == 4


def test_bag_identity_changes_with_the_recording(tmp_path):
    bag = tmp_path / "day"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("x" * 10)
    (bag / "day_0.db3").write_bytes(b"y" * 100)
    first = map_from_bag._bag_identity(bag)
    assert first["bag_bytes"] == 110
    (bag / "day_0.db3").write_bytes(b"z" * 101)
    assert map_from_bag._bag_identity(bag)["bag_bytes"] == 111


def test_build_map_from_bag_refuses_missing_arguments_and_empty_bags(calls, tmp_path):
    with pytest.raises(ValueError, match="`bag`"):
        map_from_bag.build_map_from_bag(MapBuilderNodeConfig(output="x"), MapBuilderConfig())
    with pytest.raises(ValueError, match="no posed keyframe"):
        map_from_bag.build_map_from_bag(MapBuilderNodeConfig(bag="empty", output="x"), MapBuilderConfig())


@pytest.fixture
def node_module(calls, ros_context):
    from s2dhm_ros.ros import map_builder_node
    return map_builder_node


@pytest.fixture
def ros_context():
    """A real rclpy context for in-process nodes (test/real_ros.py imports rclpy, or skips/fails saying why)."""
    rclpy = real_ros.import_rclpy()
    from rclpy.context import Context
    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)


def make_node(module, context, **overrides):
    from rclpy.parameter import Parameter
    return module.MapBuilderNode(context=context,
                                 parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


def logged(capfd):
    """(severity, message) of the node's log lines so far (rclpy logs to stderr: "[INFO] [stamp] [name]: text")."""
    return [(line.split("]", 1)[0].lstrip("["), line.split("]: ", 1)[1])
            for line in capfd.readouterr().err.splitlines() if "] [map_builder]: " in line]


def test_parameters_are_the_config_dataclasses(node_module, ros_context):
    node = make_node(node_module, ros_context, bag="/bags/day", output="/maps/demo", max_keypoints=1000,
                     **{"source.image_topic": "/cam/image", "source.end_s": 30.0,
                        "source.body_from_camera": [0, 0, 1, 0, 0, 0, 1]})
    try:
        names = set(flatten(to_dict(MapBuilderConfig()))) | set(flatten(to_dict(MapBuilderNodeConfig())))
        assert set(node.list_parameters([], 0).names) - {"use_sim_time", "start_type_description_service"} == names
        for name in names:
            descriptor = node.describe_parameter(name)
            assert descriptor.read_only and descriptor.description, name
        assert node.config.max_keypoints == 1000 and node.config.features == MapBuilderConfig().features
        assert node.settings.bag == "/bags/day" and node.settings.source.image_topic == "/cam/image"
        assert node.settings.source.end_s == 30.0 and node.settings.source.start_s is None
        # Whole numbers for a float list (an INTEGER_ARRAY to rclpy) arrive as floats.
        assert node.settings.source.body_from_camera == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        assert all(isinstance(v, float) for v in node.settings.source.body_from_camera)
    finally:
        node.destroy_node()


def test_run_logs_progress_and_exits_with_a_status(node_module, calls, ros_context, capfd):
    nodes = [make_node(node_module, ros_context, bag="/bags/day", output="/maps/demo")]
    assert nodes[0].run() == 0
    messages = [text for _, text in logged(capfd)]
    assert any("reading /bags/day: 4/4 images" in m for m in messages)
    assert any(m.startswith("map written to /maps/demo: 2 reference images") for m in messages)
    nodes.append(make_node(node_module, ros_context, bag="/bags/day", output="/readonly/map"))
    assert nodes[1].run() == 1
    assert logged(capfd)[-1] == ("ERROR", "map building failed: cannot write /readonly/map")
    nodes.append(make_node(node_module, ros_context))
    assert nodes[2].run() == 1  # bag and output are required
    for node in nodes:
        node.destroy_node()


def test_main_returns_the_status(monkeypatch):
    real_ros.import_rclpy()
    from s2dhm_ros.ros import map_builder_node
    monkeypatch.setattr(map_builder_node.MapBuilderNode, "run", lambda self: 3)
    previous = signal.getsignal(signal.SIGINT)
    try:
        assert map_builder_node.main([]) == 3
    finally:
        signal.signal(signal.SIGINT, previous)  # main() made SIGINT a stop request: give pytest its Ctrl-C back


def test_ctrl_c_stops_the_build_and_leaves_no_map_then_it_resumes(ros_street, tmp_path):
    """Real rclpy's SIGINT handler only shuts the context down and raises nothing when SIGINT was ignored at start
    (as in a script's background job, the case here); the node must still stop on SIGINT, leaving no map (never
    half of one) and the features cached so far, from which a second run completes the map. Ctrl-C comes twice,
    as from an impatient user: the second must change nothing (exit 130, no traceback, not death by SIGINT, -2;
    see runtime.stop_request)."""
    from s2dhm_ros.localizer import Localizer
    output = tmp_path / "maps" / "street"
    cache = output.parent / f".{output.name}.features"
    params = tmp_path / "map_builder.yaml"
    params.write_text(f"map_builder:\n  ros__parameters:\n    bag: {ros_street.dataset.day.bag}\n"
                      f"    output: {output}\n    source:\n      image_topic: {ros_street.dataset.topics.image}\n")
    args = ["--ros-args", "--params-file", str(params)]
    first = real_ros.NodeProcess("s2dhm_ros.ros.map_builder_node", args, sigint_ignored=True)
    try:
        real_ros.wait_for(lambda: first.process.poll() is not None or list(cache.glob("*.npz")), 120.0,
                          f"the first cached features in {cache}")
        assert first.process.poll() is None, f"the build ended before Ctrl-C:\n{first.output}"
        first.process.send_signal(signal.SIGINT)
        code = first.interrupt(timeout_s=60.0)
    finally:
        first.close()
    assert code == 130, f"exit status {code} after Ctrl-C:\n{first.output}"
    assert "interrupted: no map written" in first.output and "Traceback" not in first.output
    assert not output.exists()  # no map, not half of one
    cached = sorted(p.name for p in cache.glob("*.npz"))
    assert 1 <= len(cached) < 8

    second = real_ros.NodeProcess("s2dhm_ros.ros.map_builder_node", args)
    try:
        assert second.process.wait(240.0) == 0, second.output
    finally:
        second.close()
    assert f"map written to {output}: 8 reference images" in second.output
    assert Localizer.from_map(output).map.num_references == 8
    assert not cache.exists()  # removed once the map is complete
