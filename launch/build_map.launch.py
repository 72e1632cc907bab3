"""Build a map from a bag: `ros2 launch s2dhm_ros build_map.launch.py bag:=<bag> output:=<map dir>`.

Arguments: bag and output (required), config (map building settings, default config/map_builder.yaml),
node_config (topics, frames, keyframes; default config/map_builder_node.yaml), image_topic (overrides
node_config's source.image_topic when given). The launch ends when the build does.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from s2dhm_ros.ros.launch_parameters import parameters_from_files
from s2dhm_ros.ros.node_specs import map_builder_parameter_specs

ARGUMENTS = ("bag", "output", "config", "node_config", "image_topic")


def _map_builder(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    parameters = parameters_from_files([arg["config"], arg["node_config"]], "map_builder",
                                       map_builder_parameter_specs())  # typed: `end_s: 30` reaches it as 30.0
    parameters.update(bag=arg["bag"], output=arg["output"])
    if arg["image_topic"]:
        parameters["source.image_topic"] = arg["image_topic"]
    return [Node(package="s2dhm_ros", executable="map_builder", name="map_builder", parameters=[parameters],
                 output="screen", emulate_tty=True, on_exit=Shutdown(reason="map building finished"))]


def generate_launch_description():
    config_dir = PathJoinSubstitution([FindPackageShare("s2dhm_ros"), "config"])
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 to build the map from"),
        DeclareLaunchArgument("output", description="map directory to write"),
        DeclareLaunchArgument("config", default_value=PathJoinSubstitution([config_dir, "map_builder.yaml"]),
                              description="map building settings (ROS 2 parameter file)"),
        DeclareLaunchArgument("node_config",
                              default_value=PathJoinSubstitution([config_dir, "map_builder_node.yaml"]),
                              description="topics, frames and keyframe selection"),
        DeclareLaunchArgument("image_topic", default_value="",
                              description="image topic (default: node_config's source.image_topic)"),
        OpaqueFunction(function=_map_builder),
    ])
