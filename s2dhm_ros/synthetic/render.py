"""Exact ray casting of a quad scene: per pixel the nearest quad hit, its texture and its depth.

The geometry is exact (float64 ray–plane intersection for the ray through each pixel centre, COLMAP convention:
pixel (col, row) has its centre at (col + 0.5, row + 0.5)), so depth and 3D points are ground truth, not estimates.
Quads are processed like a rasterizer for speed: each one only tests the rays inside its projected bounding box.
Texture is sampled bilinearly from a mip level chosen per pixel from the pixel's footprint on the surface and
blended between the two nearest levels (trilinear), so distant facades and the grazing ground do not alias.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry import Camera, Pose
from .scene import Quad, Scene

NEAR = 0.05  # metres: nearer surfaces are not drawn
_MAP_COLS = 1024


@dataclass
class Rendering:
    image: np.ndarray  # RGB uint8 (H, W, 3)
    depth: np.ndarray  # float64 (H, W): z of the surface point in the camera frame (metres); inf where sky
    quad_index: np.ndarray  # int32 (H, W): index into scene.quads of the visible quad; -1 where sky


def pixel_rays(camera: Camera) -> np.ndarray:
    """(H, W, 3) camera-frame directions through the pixel centres, scaled to z = 1 (so ray length = depth)."""
    if camera.model not in ("PINHOLE", "SIMPLE_PINHOLE"):
        raise ValueError(f"the renderer draws distortion-free cameras only, got {camera.model}")
    K = camera.K
    u = (np.arange(camera.width) + 0.5 - K[0, 2]) / K[0, 0]
    v = (np.arange(camera.height) + 0.5 - K[1, 2]) / K[1, 1]
    rays = np.empty((camera.height, camera.width, 3))
    rays[..., 0] = u[None, :]
    rays[..., 1] = v[:, None]
    rays[..., 2] = 1.0
    return rays


def _clip_near(points: np.ndarray) -> np.ndarray:
    """The part of a convex polygon (N, 3, camera frame) in front of the near plane (Sutherland–Hodgman)."""
    out = []
    for i in range(len(points)):
        p, q = points[i], points[(i + 1) % len(points)]
        p_in, q_in = p[2] >= NEAR, q[2] >= NEAR
        if p_in:
            out.append(p)
        if p_in != q_in:
            out.append(p + (NEAR - p[2]) / (q[2] - p[2]) * (q - p))
    return np.array(out).reshape(-1, 3)


def _bbox(corners_cam: np.ndarray, K: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Pixel bounding box [x0, x1) x [y0, y1) of a polygon in the camera frame, None if it is not in view."""
    poly = _clip_near(corners_cam)
    if len(poly) == 0:
        return None
    uv = poly[:, :2] / poly[:, 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    x0, y0 = np.floor(uv.min(axis=0) - 1).astype(int)
    x1, y1 = np.ceil(uv.max(axis=0) + 1).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, x1, y0, y1


def _sample(level: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear samples (N, 3) float32 of one mip level at texture coordinates u, v in [0, 1]."""
    h, w = level.shape[:2]
    n = len(u)
    rows = -(-n // _MAP_COLS)  # remap maps must stay below 32767 per side: lay the samples out in rows
    mx = np.zeros(rows * _MAP_COLS, np.float32)
    my = np.zeros(rows * _MAP_COLS, np.float32)
    mx[:n] = u * w - 0.5
    my[:n] = v * h - 0.5
    out = cv2.remap(level, mx.reshape(rows, _MAP_COLS), my.reshape(rows, _MAP_COLS), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 3)[:n].astype(np.float32)


def _shade(quad: Quad, u: np.ndarray, v: np.ndarray, lod: np.ndarray) -> np.ndarray:
    """Trilinear texture lookup: `lod` is the mip level (float) of each sample."""
    lod = np.clip(lod, 0.0, len(quad.mipmaps) - 1)
    l0 = np.floor(lod).astype(int)
    frac = (lod - l0).astype(np.float32)[:, None]
    out = np.empty((len(u), 3), np.float32)
    for level in np.unique(l0):
        m = l0 == level
        a = _sample(quad.mipmaps[level], u[m], v[m])
        if level + 1 < len(quad.mipmaps):
            a += frac[m] * (_sample(quad.mipmaps[level + 1], u[m], v[m]) - a)
        out[m] = a
    return out


def render(scene: Scene, camera: Camera, cam_from_world: Pose, rays: np.ndarray | None = None) -> Rendering:
    """Render `scene` seen by `camera` (PINHOLE) at `cam_from_world`.

    `rays` may pass `pixel_rays(camera)` precomputed, to save its cost over a sequence of frames.
    A pixel's 3D point is exact: X_cam = depth * ((col + 0.5 - cx) / fx, (row + 0.5 - cy) / fy, 1).
    """
    if rays is None:
        rays = pixel_rays(camera)
    H, W = camera.height, camera.width
    K = camera.K
    f = float(np.sqrt(K[0, 0] * K[1, 1]))
    depth = np.full((H, W), np.inf)
    index = np.full((H, W), -1, np.int32)
    tex_u = np.zeros((H, W))
    tex_v = np.zeros((H, W))
    cos_n = np.ones((H, W))  # |ray . normal| with the ray scaled to z = 1, for the texture footprint
    R, t = cam_from_world.R, cam_from_world.t
    for i, quad in enumerate(scene.quads):
        corners = quad.corners @ R.T + t
        box = _bbox(corners, K, W, H)
        if box is None:
            continue
        x0, x1, y0, y1 = box
        o = R @ quad.origin + t
        a, b = R @ quad.edge_u, R @ quad.edge_v
        n = np.cross(a, b)
        # Dual basis: (p - o) . du = u and (p - o) . dv = v for p = o + u a + v b.
        G = np.array([[a @ a, a @ b], [a @ b, b @ b]])
        du, dv = np.linalg.solve(G, np.stack([a, b]))
        r = rays[y0:y1, x0:x1]
        denom = r @ n
        with np.errstate(divide="ignore", invalid="ignore"):  # rays parallel to the plane never pass `ok`
            z = (o @ n) / denom
            hit = r * z[..., None] - o
            u, v = hit @ du, hit @ dv
            ok = (z > NEAR) & (z < depth[y0:y1, x0:x1]) & (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
        if not ok.any():
            continue
        depth[y0:y1, x0:x1][ok] = z[ok]
        index[y0:y1, x0:x1][ok] = i
        tex_u[y0:y1, x0:x1][ok] = u[ok]
        tex_v[y0:y1, x0:x1][ok] = v[ok]
        cos_n[y0:y1, x0:x1][ok] = np.abs(denom[ok]) / np.linalg.norm(n)

    image = np.empty((H * W, 3), np.float32)
    flat = index.ravel()
    order = np.argsort(flat, kind="stable")
    starts = np.searchsorted(flat[order], np.arange(-1, len(scene.quads) + 1))
    sky = order[starts[0]:starts[1]]
    if len(sky):
        world_rays = rays.reshape(-1, 3)[sky] @ R  # R^T applied to each ray
        elevation = np.clip(world_rays[:, 2] / np.linalg.norm(world_rays, axis=1), 0.0, 1.0)[:, None]
        image[sky] = (1 - elevation) * np.asarray(scene.sky_horizon) + elevation * np.asarray(scene.sky_zenith)
    # Pixel footprint on the surface: area (depth / f)^2 / |ray . n| (ray at z = 1); level = log2(side / texel).
    footprint = 0.5 * np.log2(np.maximum((depth.ravel() / f) ** 2 / np.maximum(cos_n.ravel(), 1e-3), 1e-30))
    for i, quad in enumerate(scene.quads):
        pix = order[starts[i + 1]:starts[i + 2]]
        if len(pix):
            lod = footprint[pix] - 0.5 * np.log2(quad.texel_area)
            image[pix] = _shade(quad, tex_u.ravel()[pix], tex_v.ravel()[pix], lod)
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8).reshape(H, W, 3)
    return Rendering(image=image, depth=depth, quad_index=index)
