"""The synthetic street: textured planar quads only, so that rendering is exact ray casting with exact depth.

World frame = the map frame: x along the street, y to the left, z up, metres; the ground is z = 0.
The street is `length` metres of road whose centreline is the gentle curve y = a sin(2 pi x / period + phase)
(radius of curvature >= period^2 / (4 pi^2 a), about 100 m at the defaults), lined on both sides by buildings
(front and side walls at varying setbacks, each with its own texture), with lamp poles, traffic signs and
parked-car boxes on the sidewalks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import textures


@dataclass
class Quad:
    """A textured parallelogram {origin + u edge_u + v edge_v : 0 <= u, v <= 1} (world metres), seen from both sides.

    Texture column = u * width, row = v * height (texel centres at +0.5), so row 0 lies along edge_u at `origin`.
    The mip pyramid (box-filtered halvings) is built once here for the renderer's prefiltering.
    """

    origin: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    texture: np.ndarray  # RGB uint8 (H, W, 3)
    mipmaps: list[np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.origin, self.edge_u, self.edge_v = (np.asarray(a, np.float64).reshape(3)
                                                 for a in (self.origin, self.edge_u, self.edge_v))
        if np.linalg.norm(np.cross(self.edge_u, self.edge_v)) < 1e-9:
            raise ValueError("degenerate quad: its edges are parallel")
        levels = [np.ascontiguousarray(self.texture)]
        while min(levels[-1].shape[:2]) >= 2:
            h, w = levels[-1].shape[:2]
            levels.append(cv2.resize(levels[-1], (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA))
        self.mipmaps = levels

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.edge_u, self.edge_v)
        return n / np.linalg.norm(n)

    @property
    def corners(self) -> np.ndarray:
        o, a, b = self.origin, self.edge_u, self.edge_v
        return np.stack([o, o + a, o + a + b, o + b])

    @property
    def texel_area(self) -> float:
        """Surface area (m^2) of one level-0 texel."""
        h, w = self.texture.shape[:2]
        return float(np.linalg.norm(np.cross(self.edge_u, self.edge_v))) / (h * w)

    def point(self, u: float, v: float) -> np.ndarray:
        """The world point at texture coordinates (u, v) in [0, 1]^2."""
        return self.origin + u * self.edge_u + v * self.edge_v


@dataclass
class Road:
    """The road centreline y = a sin(2 pi x / period + phase) between x = 0 and x = length."""

    length: float
    amplitude: float = 6.0
    period: float = 160.0
    phase: float = 0.0
    half_width: float = 4.5  # two lanes of 3.5 m plus a margin

    def centre(self, x: np.ndarray) -> np.ndarray:
        """(N, 2) centreline points at the given x."""
        x = np.asarray(x, np.float64)
        return np.stack([x, self.amplitude * np.sin(2 * np.pi * x / self.period + self.phase)], axis=-1)

    def heading(self, x: np.ndarray) -> np.ndarray:
        """Yaw (radians, counter-clockwise from +x) of the centreline's tangent at x."""
        k = 2 * np.pi / self.period
        return np.arctan(self.amplitude * k * np.cos(k * np.asarray(x, np.float64) + self.phase))

    def offset(self, x: np.ndarray, lateral: np.ndarray | float) -> np.ndarray:
        """(N, 2) points `lateral` metres to the left of the centreline at x (negative: to the right)."""
        psi = self.heading(x)
        return self.centre(x) + np.asarray(lateral)[..., None] * np.stack([-np.sin(psi), np.cos(psi)], axis=-1)


@dataclass
class Scene:
    """Quads to render, with the sky colours seen where a ray hits none of them."""

    quads: list[Quad]
    sky_horizon: tuple[int, int, int] = (205, 215, 228)
    sky_zenith: tuple[int, int, int] = (80, 130, 205)


@dataclass
class StreetScene(Scene):
    """The street's quads and the road they line, which vehicles drive along."""

    road: Road = field(kw_only=True)


def _vertical_quad(p0: np.ndarray, p1: np.ndarray, z0: float, z1: float, texture: np.ndarray) -> Quad:
    """A vertical wall between ground points p0 → p1 (texture columns run p0 → p1) from height z1 (row 0) to z0."""
    top = np.array([p0[0], p0[1], z1])
    return Quad(top, np.r_[np.asarray(p1) - np.asarray(p0), 0.0], np.array([0.0, 0.0, z0 - z1]), texture)


def _box(rng: np.random.Generator, centre: np.ndarray, yaw: float, size: tuple[float, float, float],
         colour: tuple[int, int, int], z0: float = 0.0) -> list[Quad]:
    """The four sides and the top of a box standing on z0 (length along yaw, width, height)."""
    length, width, height = size
    forward, lateral = np.array([np.cos(yaw), np.sin(yaw)]), np.array([-np.sin(yaw), np.cos(yaw)])
    c = [centre + forward * length / 2 + lateral * width / 2, centre - forward * length / 2 + lateral * width / 2,
         centre - forward * length / 2 - lateral * width / 2, centre + forward * length / 2 - lateral * width / 2]
    quads = []
    for i in range(4):
        a, b = c[i], c[(i + 1) % 4]
        side = float(np.linalg.norm(b - a))
        quads.append(_vertical_quad(a, b, z0, z0 + height, textures.surface_texture(rng, side, height, colour)))
    top = np.r_[c[2], z0 + height]
    quads.append(Quad(top, np.r_[c[3] - c[2], 0.0], np.r_[c[1] - c[2], 0.0],
                      textures.surface_texture(rng, length, width, colour)))
    return quads


def _buildings(rng: np.random.Generator, road: Road, side: int, setback: float,
               photos: list[np.ndarray]) -> list[Quad]:
    """A row of buildings on one side (+1 left, -1 right): front walls facing the road, side walls into the block.

    Texture columns run left-to-right as seen from the road, so shop lettering reads correctly."""
    quads: list[Quad] = []
    x = -30.0
    while x < road.length + 30.0:
        width = rng.uniform(8.0, 20.0)
        x1 = x + width
        height = rng.uniform(7.0, 19.0)
        depth = setback + rng.uniform(-1.0, 1.5)
        ends = road.offset(np.array([x, x1]), side * depth)
        a, b = ends if side > 0 else ends[::-1]
        photo = photos[int(rng.integers(len(photos)))] if photos and rng.random() < 0.5 else None
        quads.append(_vertical_quad(a, b, 0.0, height,
                                    textures.facade_texture(rng, float(np.linalg.norm(b - a)), height, photo=photo)))
        for k, (end, yaw) in enumerate(zip(ends, road.heading(np.array([x, x1])))):  # side walls, 10 m deep
            away = end + side * 10.0 * np.array([-np.sin(yaw), np.cos(yaw)])
            p, q = (away, end) if (k == 0) == (side > 0) else (end, away)  # readable from outside the building
            quads.append(_vertical_quad(p, q, 0.0, height, textures.facade_texture(rng, 10.0, height)))
        x = x1 + (rng.uniform(1.5, 5.0) if rng.random() < 0.35 else 0.0)
    return quads


def _street_furniture(rng: np.random.Generator, road: Road, sidewalk: float) -> list[Quad]:
    """Lamp poles, traffic signs facing the traffic, and parked-car boxes along the kerbs."""
    quads: list[Quad] = []
    kerb = road.half_width
    for x in np.arange(rng.uniform(0, 10), road.length, rng.uniform(18, 26)):
        for side in (-1, 1):
            p = road.offset(np.array([x + side * 6.0]), side * (kerb + 0.6))[0]
            quads += _box(rng, p, 0.0, (0.22, 0.22, 5.5), (70, 75, 80))
    for x in np.arange(rng.uniform(5, 15), road.length, rng.uniform(12, 20)):
        side = 1 if rng.random() < 0.5 else -1
        yaw = float(road.heading(np.array([x]))[0])
        p = road.offset(np.array([x]), side * (kerb + sidewalk * rng.uniform(0.3, 0.7)))[0]
        quads += _box(rng, p, yaw, (0.1, 0.1, 2.2), (120, 120, 125))
        # A sign panel on the pole, facing oncoming traffic (the -x direction along the road).
        forward, lateral = np.array([np.cos(yaw), np.sin(yaw)]), np.array([-np.sin(yaw), np.cos(yaw)])
        w, h = rng.uniform(0.6, 1.2), rng.uniform(0.5, 0.9)
        panel = np.full((int(h / 0.01), int(w / 0.01), 3), 255, np.uint8)
        textures.draw_sign(panel, rng, 0, 0, panel.shape[1] - 1, panel.shape[0] - 1)
        left = p - forward * 0.06 + lateral * w / 2
        quads.append(_vertical_quad(left, left - lateral * w, 2.2, 2.2 + h, panel))
    for x in np.arange(rng.uniform(5, 20), road.length, rng.uniform(14, 30)):
        side = 1 if rng.random() < 0.5 else -1
        yaw = float(road.heading(np.array([x]))[0])
        p = road.offset(np.array([x]), side * (kerb - 1.1))[0]
        quads += _box(rng, p, yaw, (4.3, 1.8, 1.45), tuple(int(c) for c in rng.integers(30, 230, 3)), z0=0.15)
    return quads


def make_street_scene(length: float = 200.0, seed: int = 0, photo_dir: Path | None = None) -> StreetScene:
    """The street of `length` metres (plus 30 m of buildings beyond each end), deterministic given `seed`.

    `photo_dir`: where real photographs are (e.g. ../shared/data/strecha); when it holds *.jpg files, about half of
    the building fronts start from crops of them. Without it (the default) every texture is procedural."""
    rng = np.random.default_rng(seed)
    road = Road(length=float(length), phase=float(rng.uniform(0, 2 * np.pi)))
    sidewalk = 3.5
    setback = road.half_width + sidewalk
    photos = textures.load_photos(photo_dir)
    xs = np.arange(-40.0, length + 40.0, 0.5)
    centreline = road.centre(xs)
    margin = setback + 12.0
    x0, y0 = -40.0, -road.amplitude - margin
    width, height = length + 80.0, 2 * (road.amplitude + margin)
    texel = max(0.05, width / 30000.0)  # OpenCV samples textures of up to 32767 texels a side
    ground = Quad([x0, y0, 0.0], [width, 0.0, 0.0], [0.0, height, 0.0],
                  textures.ground_texture(rng, x0, y0, width, height, centreline, road.half_width, texel))
    quads = [ground]
    for side in (1, -1):
        quads += _buildings(rng, road, side, setback, photos)
    quads += _street_furniture(rng, road, sidewalk)
    return StreetScene(quads=quads, road=road)
