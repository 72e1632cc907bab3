"""The renderer is exact: back-projected depth lies on the hit quad, and texture lands where geometry says."""
from pathlib import Path

import numpy as np
import pytest

from s2dhm_ros.geometry import Camera, Pose
from s2dhm_ros.synthetic.render import pixel_rays, render
from s2dhm_ros.synthetic.scene import Quad, Scene, make_street_scene
from s2dhm_ros.synthetic.textures import load_photos
from s2dhm_ros.synthetic.trajectory import Drive, camera_mount

STRECHA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "strecha"
CAMERA = Camera("PINHOLE", 160, 120, (125.0, 125.0, 80.0, 60.0))


def _look_along_x(position) -> Pose:
    """cam_from_world of a camera at `position` looking along +x (optical z), with image y pointing down (-z)."""
    world_from_cam = Pose(np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]), position)
    return world_from_cam.inverse()


def _flat(colour, h=64, w=64) -> np.ndarray:
    return np.full((h, w, 3), colour, np.uint8)


def test_back_projected_depth_lies_on_the_hit_quad():
    rng = np.random.default_rng(0)
    quads = [Quad([-5, -20, 0], [60, 0, 0], [0, 40, 0], rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)),
             Quad([12, -6, 8], [3, 12, 0], [0, 0, -8], rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)),
             Quad([6, 1, 2], [0.5, -2, 0], [0.2, 0.3, -2], _flat((200, 10, 10)))]  # slanted parallelogram
    cam_from_world = _look_along_x([0.0, 0.3, 1.5])
    r = render(Scene(quads), CAMERA, cam_from_world)
    assert set(np.unique(r.quad_index)) == {-1, 0, 1, 2}
    assert np.all(np.isinf(r.depth[r.quad_index < 0]))
    rays = pixel_rays(CAMERA)
    hit = r.quad_index >= 0
    points_cam = rays[hit] * r.depth[hit][:, None]
    points = cam_from_world.inverse().transform(points_cam)
    for i, quad in enumerate(quads):
        on = r.quad_index[hit] == i
        distance = (points[on] - quad.origin) @ quad.normal
        assert np.max(np.abs(distance)) < 1e-6
        G = np.array([[quad.edge_u @ quad.edge_u, quad.edge_u @ quad.edge_v],
                      [quad.edge_u @ quad.edge_v, quad.edge_v @ quad.edge_v]])
        uv = np.linalg.solve(G, np.stack([quad.edge_u, quad.edge_v]) @ (points[on] - quad.origin).T)
        assert np.all(uv > -1e-9) and np.all(uv < 1 + 1e-9)


def test_a_texture_point_projects_where_expected():
    texture = _flat((128, 128, 128), 100, 200)
    texture[57:63, 147:153] = (255, 0, 0)  # a red marker centred on texture point (150, 60): u = 0.75, v = 0.6
    wall = Quad([10, 4, 4], [0, -8, 0], [0, 0, -4], texture)  # faces the camera, u to the right, v down
    cam_from_world = _look_along_x([0.0, 0.0, 1.5])
    r = render(Scene([wall]), CAMERA, cam_from_world)
    point = wall.point(0.75, 0.6)
    p_cam = cam_from_world.transform(point[None])[0]
    col, row = (CAMERA.K @ (p_cam / p_cam[2]))[:2] - 0.5  # COLMAP: pixel centres at +0.5
    ci, ri = int(round(col)), int(round(row))
    assert tuple(r.image[ri, ci]) == (255, 0, 0)
    assert abs(r.depth[ri, ci] - p_cam[2]) < 1e-9  # a plane facing the camera: the same depth everywhere
    red = np.argwhere(np.all(r.image == (255, 0, 0), axis=-1))
    np.testing.assert_allclose(red.mean(axis=0), [row, col], atol=0.25)


def test_street_frame_renders_fully():
    scene = make_street_scene(length=60.0, seed=3)
    camera = Camera("PINHOLE", 640, 480, (500.0, 500.0, 320.0, 240.0))
    drive = Drive(scene.road, 10.0, 10.0, 0)
    rays = pixel_rays(camera)
    cam_from_world = (drive.map_from_base(200_000_000) * camera_mount()).inverse()
    r = render(scene, camera, cam_from_world, rays)
    assert r.image.shape == (480, 640, 3) and r.image.dtype == np.uint8
    ground = r.quad_index[-1, :]
    assert np.all(ground == 0)  # the bottom row sees the ground
    assert 0.02 < np.mean(r.quad_index < 0) < 0.5  # some sky, mostly street
    assert r.image.std() > 20


def test_scene_is_deterministic_and_procedural_without_photos(tmp_path):
    assert load_photos(tmp_path / "absent") == [] and load_photos(None) == []
    a, b = make_street_scene(length=20.0, seed=4), make_street_scene(length=20.0, seed=4, photo_dir=tmp_path / "x")
    assert len(a.quads) == len(b.quads)
    assert all(np.array_equal(p.texture, q.texture) for p, q in zip(a.quads, b.quads))


@pytest.mark.skipif(not STRECHA.is_dir(), reason=f"real photos not found at {STRECHA}")
def test_facades_from_real_photos():
    photos = load_photos(STRECHA, max_photos=2)
    assert len(photos) == 2 and photos[0].dtype == np.uint8 and max(photos[0].shape[:2]) == 1024
    with_photos = make_street_scene(length=20.0, seed=4, photo_dir=STRECHA)
    without = make_street_scene(length=20.0, seed=4)
    assert any(p.texture.shape != q.texture.shape or not np.array_equal(p.texture, q.texture)
               for p, q in zip(with_photos.quads, without.quads))
