"""The localizer feeding a robot_localization EKF (pose0) that fuses it with odometry and owns map->odom.

`ros2 launch s2dhm_ros localize_with_ekf.launch.py map:=<map dir>`
Arguments: map (required), image, camera_info, use_sim_time (passed to localize.launch.py), ekf_config
(robot_localization parameters, default config/robot_localization_example.yaml). The localizer runs with
publish_tf:=false: only the EKF publishes map->odom. See docs/pose-prior.md.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

FORWARDED = ("map", "image", "camera_info", "use_sim_time")


def generate_launch_description():
    share = FindPackageShare("s2dhm_ros")
    localize = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "localize.launch.py"])),
        launch_arguments={**{name: LaunchConfiguration(name) for name in FORWARDED}, "publish_tf": "false"}.items())
    ekf = Node(package="robot_localization", executable="ekf_node", name="ekf_filter_node", output="screen",
               parameters=[LaunchConfiguration("ekf_config"),
                           {"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}])
    return LaunchDescription([
        DeclareLaunchArgument("map", description="map directory"),
        DeclareLaunchArgument("image", default_value="/camera/image_raw", description="image topic"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info", description="CameraInfo topic"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bag replay)"),
        DeclareLaunchArgument("ekf_config",
                              default_value=PathJoinSubstitution([share, "config", "robot_localization_example.yaml"]),
                              description="robot_localization parameters (pose0 = /localizer/pose)"),
        localize,
        ekf,
    ])
