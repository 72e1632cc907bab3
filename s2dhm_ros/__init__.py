"""s2dhm_ros: Sparse-to-Dense Hypercolumn Matching for long-term visual localization, for ROS 2 and without it."""
__version__ = "0.1.0"
