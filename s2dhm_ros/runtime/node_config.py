"""Settings of the ROS nodes that are not the library's (frames, TF, rates, topics), with their defaults.

They sit next to `s2dhm_ros.config` (the library's settings) and become ROS parameters the same way: one parameter
per leaf field; comments after a field are its parameter description. config/localizer_node.yaml and
config/map_builder_node.yaml hold exactly these defaults (a test keeps them equal).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..io.bag_source import BagSourceConfig


@dataclass
class LocalizerNodeConfig:
    map: str = ""  # map directory (required); read again by ~/reload_map
    map_frame: str = ""  # frame of the published poses; empty: the map's own frame_id
    base_frame: str = "base_link"  # frame whose pose is published; empty: the camera optical frame of the images
    odom_frame: str = "odom"  # REP-105 odometry frame: TF map->odom; empty: TF map->base_frame instead
    publish_tf: bool = True  # broadcast map->odom (or map->base_frame) after each fix
    # map->odom is stamped ahead by this (like AMCL's transform_tolerance): send time + this when republished,
    # image stamp + this without republishing
    tf_future_dating_s: float = 0.5
    # resend the last map->odom this often, stamped now + tf_future_dating_s, so that TF lookups at the current
    # time succeed between fixes (a CPU query takes seconds); 0: only once per fix
    tf_republish_rate_hz: float = 10.0
    tf_timeout_s: float = 0.1  # how long to wait for odom->base and the camera extrinsic at the image stamp
    max_rate_hz: float = 0.0  # at most this many inferences per second; 0: as fast as the hardware allows
    image_transport: str = "raw"  # "raw": sensor_msgs/Image on `image`; "compressed": CompressedImage on `image`
    use_rectified: bool = False  # images are rectified: intrinsics from CameraInfo P instead of K and D
    sync_tolerance_s: float = 0.005  # an image and a CameraInfo pair up when their stamps differ by at most this
    pixel_noise_px: float = 1.0  # reprojection noise (std, px): scales pycolmap's unit-noise covariance by its square
    # also send fixes to `initialpose` in the node's namespace (/initialpose without one), where Nav2's AMCL
    # listens: "off", "first_fix" or "on_demand"
    publish_initialpose: str = "off"
    debug_image: bool = False  # publish ~/debug_image with the inlier matches drawn


@dataclass
class MapBuilderNodeConfig:
    bag: str = ""  # rosbag2 directory (or file) to build the map from (required)
    output: str = ""  # map directory to write (required); an interrupted build resumes from its cache
    source: BagSourceConfig = field(default_factory=BagSourceConfig)  # topics, frames and keyframe selection
