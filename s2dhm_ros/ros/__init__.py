"""ROS 2 nodes and message conversions.

Only `node_parameters`, `localizer_node` and `map_builder_node` import rclpy (when they are imported themselves);
`parameters`, `node_specs`, `messages`, `launch_parameters` and `launch_events` work without a ROS install (the
launch files use the last three without importing rclpy).
"""
