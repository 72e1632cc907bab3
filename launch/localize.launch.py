"""Localize a camera stream against a map: `ros2 launch s2dhm_ros localize.launch.py map:=<map dir>`.

Arguments: map (required), config (pipeline settings, default config/localizer.yaml), node_config (frames, TF,
rates; default config/localizer_node.yaml), image and camera_info (the topics the node's `image` and `camera_info`
are remapped to), namespace, use_sim_time (true when replaying a bag with `ros2 bag play --clock`), publish_tf
(true/false overrides node_config's when given), fastdds_transports (FASTDDS_BUILTIN_TRANSPORTS for the node:
default LARGE_DATA, since with Fast DDS's default transports most 640x480 images were lost; empty: the environment's).
Outputs: ~/pose (PoseWithCovarianceStamped), TF map->odom (resent at tf_republish_rate_hz), /diagnostics,
initialpose (relative: in the namespace) with publish_initialpose; services ~/reload_map and, with
publish_initialpose: on_demand, ~/publish_initialpose.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from s2dhm_ros.ros.launch_parameters import parameters_from_files
from s2dhm_ros.ros.node_specs import localizer_parameter_specs

ARGUMENTS = ("map", "config", "node_config", "image", "camera_info", "namespace", "use_sim_time", "publish_tf",
             "fastdds_transports")


def _is_true(text):
    return text.lower() in ("true", "1", "yes")


def _localizer(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    # Typed as the node declares them: `max_rate_hz: 5` in a file reaches the node as 5.0.
    parameters = parameters_from_files([arg["config"], arg["node_config"]], "localizer", localizer_parameter_specs())
    parameters["map"] = arg["map"]
    parameters["use_sim_time"] = _is_true(arg["use_sim_time"])
    if arg["publish_tf"]:
        parameters["publish_tf"] = _is_true(arg["publish_tf"])
    transports = arg["fastdds_transports"]
    environment = [SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", transports)] if transports else []
    return environment + [Node(package="s2dhm_ros", executable="localizer", name="localizer",
                                namespace=arg["namespace"],
                 parameters=[parameters], remappings=[("image", arg["image"]), ("camera_info", arg["camera_info"])],
                 output="screen", emulate_tty=True)]


def generate_launch_description():
    config_dir = PathJoinSubstitution([FindPackageShare("s2dhm_ros"), "config"])
    return LaunchDescription([
        DeclareLaunchArgument("map", description="map directory (built by map_builder or `s2dhm build-map`)"),
        DeclareLaunchArgument("config", default_value=PathJoinSubstitution([config_dir, "localizer.yaml"]),
                              description="pipeline settings (ROS 2 parameter file)"),
        DeclareLaunchArgument("node_config", default_value=PathJoinSubstitution([config_dir, "localizer_node.yaml"]),
                              description="node settings: frames, TF, rates, image transport"),
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="image topic"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info", description="CameraInfo topic"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the localizer node"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (bag replay with `ros2 bag play --clock`)"),
        DeclareLaunchArgument("publish_tf", default_value="",
                              description="true/false overrides node_config's publish_tf (false when an EKF "
                                          "publishes map->odom)"),
        DeclareLaunchArgument("fastdds_transports", default_value="LARGE_DATA",
                              description="FASTDDS_BUILTIN_TRANSPORTS for the node (Fast DDS only): LARGE_DATA "
                                          "delivers camera images that the default transports lose; empty: "
                                          "the environment's"),
        OpaqueFunction(function=_localizer),
    ])
