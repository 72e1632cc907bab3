"""The shipped parameter files equal the dataclass defaults (nothing drifts), launch files declare the documented
arguments, and launch-time parameter gathering works whatever the node's namespace."""
import ast
from pathlib import Path

import pytest
import yaml

from s2dhm_ros.config import LocalizerConfig, MapBuilderConfig, flatten, load_config, to_dict
from s2dhm_ros.ros.launch_parameters import parameters_from_files
from s2dhm_ros.runtime.node_config import LocalizerNodeConfig, MapBuilderNodeConfig

ROOT = Path(__file__).resolve().parents[1]
FILES = [("localizer.yaml", "localizer", LocalizerConfig), ("localizer_node.yaml", "localizer", LocalizerNodeConfig),
         ("map_builder.yaml", "map_builder", MapBuilderConfig),
         ("map_builder_node.yaml", "map_builder", MapBuilderNodeConfig)]


@pytest.mark.parametrize("name, node, cls", FILES)
def test_parameter_file_holds_exactly_the_defaults(name, node, cls):
    path = ROOT / "config" / name
    data = yaml.safe_load(path.read_text())
    assert list(data) == [node] and list(data[node]) == ["ros__parameters"]
    values = flatten(data[node]["ros__parameters"])
    defaults = flatten(to_dict(cls()))
    # Every field is there with its default, except those whose default is None (a ROS parameter cannot hold
    # None): they are documented in comments.
    assert values == {k: v for k, v in defaults.items() if v is not None}
    assert all(type(value) is type(defaults[k]) for k, value in values.items())  # 12.0 stays a float
    assert load_config(cls, path, node) == cls()
    unset = [k.rsplit(".", 1)[-1] for k, v in defaults.items() if v is None]
    assert all(f"# {field}:" in path.read_text() for field in unset)


def test_library_files_load_without_the_node_settings():
    """localizer.yaml / map_builder.yaml are the library's own schema, so the command line can load them too."""
    assert load_config(LocalizerConfig, ROOT / "config/localizer.yaml", "localizer") == LocalizerConfig()
    assert load_config(MapBuilderConfig, ROOT / "config/map_builder.yaml", "map_builder") == MapBuilderConfig()


def test_parameters_from_files_merge_in_order_and_ignore_other_nodes(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump({"localizer": {"ros__parameters": {"pose": {"min_inliers": 20}, "map": "a"}},
                                     "other": {"ros__parameters": {"x": 1}}}))
    second.write_text(yaml.safe_dump({"/robot1/localizer": {"ros__parameters": {"map": "b"}},
                                      "/**": {"ros__parameters": {"use_sim_time": True}}}))
    assert parameters_from_files([first, second], "localizer") == {"pose.min_inliers": 20, "map": "b",
                                                                   "use_sim_time": True}
    with pytest.raises(ValueError, match="cannot read parameter file"):
        parameters_from_files([tmp_path / "missing.yaml"], "localizer")


def test_shipped_files_give_the_nodes_all_their_parameters():
    localizer = parameters_from_files([ROOT / "config/localizer.yaml", ROOT / "config/localizer_node.yaml"],
                                      "localizer")
    expected = {**flatten(to_dict(LocalizerConfig())), **flatten(to_dict(LocalizerNodeConfig()))}
    assert localizer == {k: v for k, v in expected.items() if v is not None}


def test_parameters_from_files_type_whole_numbers_as_the_node_declares_them(tmp_path):
    """YAML reads `max_rate_hz: 5` as an int; rclpy would refuse it for a parameter declared with 0.0."""
    from s2dhm_ros.ros.node_specs import localizer_parameter_specs, map_builder_parameter_specs
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"localizer": {"ros__parameters": {
        "max_rate_hz": 5, "tf_republish_rate_hz": 0, "sync_tolerance_s": 0.01, "debug_image": True,
        "matcher": {"ratio_alpha": 1}, "pose": {"ransac_max_error_px": 12, "min_inliers": 20},
        "custom": 3}}}))
    typed = parameters_from_files([path], "localizer", localizer_parameter_specs())
    assert typed == {"max_rate_hz": 5.0, "tf_republish_rate_hz": 0.0, "sync_tolerance_s": 0.01, "debug_image": True,
                     "matcher.ratio_alpha": 1.0, "pose.ransac_max_error_px": 12.0, "pose.min_inliers": 20,
                     "custom": 3}
    assert [type(typed[k]) for k in ("max_rate_hz", "matcher.ratio_alpha", "pose.ransac_max_error_px",
                                     "pose.min_inliers", "debug_image", "custom")] == [float, float, float, int,
                                                                                       bool, int]
    assert type(parameters_from_files([path], "localizer")["max_rate_hz"]) is int  # untyped without specs
    path.write_text(yaml.safe_dump({"map_builder": {"ros__parameters": {
        "source": {"end_s": 30, "body_from_camera": [0, 0, 1, 0, 0, 0, 1], "stride": 2}}}}))
    typed = parameters_from_files([path], "map_builder", map_builder_parameter_specs())
    assert typed == {"source.end_s": 30.0, "source.body_from_camera": [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                     "source.stride": 2}
    assert type(typed["source.end_s"]) is float and all(type(v) is float for v in typed["source.body_from_camera"])


def test_every_float_setting_is_marked_floating_and_nothing_else():
    from s2dhm_ros.ros.node_specs import localizer_parameter_specs, map_builder_parameter_specs
    for spec in localizer_parameter_specs() + map_builder_parameter_specs():
        if spec.default is not None:
            assert spec.floating == isinstance(spec.default, float), spec.name
    optional = {s.name: s.floating for s in localizer_parameter_specs() + map_builder_parameter_specs()
                if s.default is None}
    assert optional["pose.ransac_max_error_px"] and optional["source.start_s"] and optional["source.body_from_camera"]
    assert not optional["features.weights"] and not optional["source.camera_info_topic"]


def declared_arguments(path):
    """Names of DeclareLaunchArgument(...) calls and the module docstring, from the source (no launch needed)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = [node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", None) == "DeclareLaunchArgument"]
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    return names, ast.get_docstring(tree)


@pytest.mark.parametrize("launch_file, arguments", [
    ("localize.launch.py", ["map", "config", "node_config", "image", "camera_info", "namespace", "use_sim_time",
                            "publish_tf", "fastdds_transports"]),
    ("build_map.launch.py", ["bag", "output", "config", "node_config", "image_topic"]),
    ("localize_with_ekf.launch.py", ["map", "image", "camera_info", "use_sim_time", "ekf_config"]),
])
def test_launch_files_declare_the_documented_arguments(launch_file, arguments):
    names, docstring = declared_arguments(ROOT / "launch" / launch_file)
    assert names == arguments
    assert all(name in docstring for name in arguments)


def test_launch_files_read_every_declared_argument():
    for launch_file in ("localize.launch.py", "build_map.launch.py"):
        tree = ast.parse((ROOT / "launch" / launch_file).read_text())
        (arguments,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS"]
        assert ast.literal_eval(arguments) == tuple(declared_arguments(ROOT / "launch" / launch_file)[0])


def test_robot_localization_example_fuses_the_localizer_pose():
    ekf = yaml.safe_load((ROOT / "config/robot_localization_example.yaml").read_text())["ekf_filter_node"]
    params = ekf["ros__parameters"]
    assert params["pose0"] == "/localizer/pose" and params["world_frame"] == "map"
    assert params["pose0_config"][:6] == [True] * 6 and len(params["pose0_config"]) == 15
    assert params["base_link_frame"] == LocalizerNodeConfig().base_frame
