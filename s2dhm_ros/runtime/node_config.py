"""Settings of the ROS nodes that are not the library's (frames, TF, rates, topics), with their defaults.

They sit next to `s2dhm_ros.config` (the library's settings) and become ROS parameters the same way: one parameter
per leaf field; comments after a field are its parameter description. config/localizer_node.yaml and
config/map_builder_node.yaml hold exactly these defaults (a test keeps them equal).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..io.bag_source import BagSourceConfig


@dataclass
class PriorConfig:
    """Use of a pose prior (the last fix or `initialpose`, moved by odometry): docs/pose-prior.md."""

    enabled: bool = True  # restrict retrieval near a confident prior and gate fixes against it; false: always global
    use_initialpose: bool = True  # take priors from `initialpose` in the node's namespace (RViz, Nav2), as AMCL does
    # a prior is confident when its largest position std is at most this: retrieval is then restricted to the
    # references near it
    max_position_std_m: float = 2.0
    # candidates: references whose camera centre is within this + 3 position std of the predicted camera position
    search_radius_m: float = 10.0
    gate: str = "position"  # Mahalanobis gate of fixes against the prior: "position" (x, y, z), "pose" (6-DoF), "off"
    gate_probability: float = 0.999  # chi-square quantile: a fix beyond it is rejected (3 dof: squared distance 16.3)
    # consecutive failed or rejected frames with a prior before it is dropped (global retrieval again)
    max_failures: int = 3
    odometry_translation_noise: float = 0.1  # prior position std grows by this per metre of odometry
    odometry_rotation_noise: float = 0.1  # prior rotation std grows by this per radian of odometry rotation
    max_age_s: float = 30.0  # a prior not refreshed by a fix or initialpose for this long is dropped; 0: never


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
    # also send fixes to `initialpose` in the node's namespace (/initialpose without one), where Nav2's AMCL
    # listens: "off", "first_fix" or "on_demand"
    publish_initialpose: str = "off"
    debug_image: bool = False  # publish ~/debug_image with the inlier matches drawn
    # false: localize only after a ~/trigger_localization request, until one fix is published (Isaac ROS VGL's name)
    enable_continuous_localization: bool = True
    publish_map: bool = True  # publish the map once, latched: ~/map_points (PointCloud2), ~/reference_poses (PoseArray)
    prior: PriorConfig = field(default_factory=PriorConfig)


@dataclass
class MapBuilderNodeConfig:
    bag: str = ""  # rosbag2 directory (or file) to build the map from (required)
    output: str = ""  # map directory to write (required); an interrupted build resumes from its cache
    source: BagSourceConfig = field(default_factory=BagSourceConfig)  # topics, frames and keyframe selection
