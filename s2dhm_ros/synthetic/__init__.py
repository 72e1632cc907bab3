"""A synthetic street with exact geometry, rendered along vehicle drives into rosbag2 recordings: the embedded
demo's data and the end-to-end test fixture (day traversal to map, night traversal to localize)."""
from .appearance import simulate_night
from .render import Rendering, render
from .scene import Quad, Road, Scene, StreetScene, make_street_scene
from .street_bag import FrameIds, StreetDataset, Topics, Traversal, make_street_bags

__all__ = [
    "FrameIds", "Quad", "Rendering", "Road", "Scene", "StreetDataset", "StreetScene", "Topics", "Traversal",
    "make_street_bags", "make_street_scene", "render", "simulate_night",
]
