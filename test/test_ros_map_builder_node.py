"""The `map_builder` node's parameters and exit status (rclpy stand-in), and the bag-to-map glue it runs."""
from types import SimpleNamespace

import pytest

import fake_rclpy
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

    def build_map(frames, config, output, metadata, frame_id, progress):
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
def node_module(monkeypatch, calls):
    fake_rclpy.install(monkeypatch)
    from s2dhm_ros.ros import map_builder_node
    return map_builder_node


def make_node(module, **overrides):
    return module.MapBuilderNode(parameter_overrides=[fake_rclpy.Parameter(k, value=v) for k, v in overrides.items()])


def test_parameters_are_the_config_dataclasses(node_module):
    node = make_node(node_module, bag="/bags/day", output="/maps/demo", max_keypoints=1000,
                     **{"source.image_topic": "/cam/image", "source.end_s": 30.0})
    names = set(flatten(to_dict(MapBuilderConfig()))) | set(flatten(to_dict(MapBuilderNodeConfig())))
    assert set(node.parameters) == names | {"use_sim_time"}
    assert all(node.descriptors[n].read_only and node.descriptors[n].description for n in names)
    assert node.config.max_keypoints == 1000 and node.config.features == MapBuilderConfig().features
    assert node.settings.bag == "/bags/day" and node.settings.source.image_topic == "/cam/image"
    assert node.settings.source.end_s == 30.0 and node.settings.source.start_s is None


def test_run_logs_progress_and_exits_with_a_status(node_module, calls):
    node = make_node(node_module, bag="/bags/day", output="/maps/demo")
    assert node.run() == 0
    messages = [text for _, text in node.get_logger().records]
    assert any("reading /bags/day: 4/4 images" in m for m in messages)
    assert any(m.startswith("map written to /maps/demo: 2 reference images") for m in messages)
    failing = make_node(node_module, bag="/bags/day", output="/readonly/map")
    assert failing.run() == 1
    assert failing.get_logger().records[-1] == ("ERROR", "map building failed: cannot write /readonly/map")
    assert make_node(node_module).run() == 1  # bag and output are required


def test_main_returns_the_status(node_module, monkeypatch):
    monkeypatch.setattr(node_module.MapBuilderNode, "run", lambda self: 3)
    assert node_module.main([]) == 3
