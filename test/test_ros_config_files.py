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
    expected = {**flatten(to_dict(LocalizerConfig())), **to_dict(LocalizerNodeConfig())}
    assert localizer == {k: v for k, v in expected.items() if v is not None}


def declared_arguments(path):
    """Names of DeclareLaunchArgument(...) calls and the module docstring, from the source (no launch needed)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = [node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", None) == "DeclareLaunchArgument"]
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    return names, ast.get_docstring(tree)


@pytest.mark.parametrize("launch_file, arguments", [
    ("localize.launch.py", ["map", "config", "node_config", "image", "camera_info", "namespace", "use_sim_time",
                            "publish_tf"]),
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
