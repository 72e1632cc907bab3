"""Cameras, rigid transforms, PnP and triangulation."""
from .camera import Camera
from .pose import Pose, pose_error, rotation_angle_deg

__all__ = ["Camera", "Pose", "pose_error", "rotation_angle_deg"]
