"""ROS 2 nodes and message conversions.

Only `node_parameters`, `localizer_node` and `map_builder_node` import rclpy (when they are imported themselves);
`parameters`, `messages` and `launch_parameters` work without a ROS install.
"""
