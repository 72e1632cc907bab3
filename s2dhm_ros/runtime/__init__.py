"""ROS-free runtime logic of the nodes: the latest-frame worker, pose/covariance output, TF republishing, statistics.

Everything here is plain Python so that it is tested without a ROS install; `s2dhm_ros.ros` only wires it to rclpy.
"""
