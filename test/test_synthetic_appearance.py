"""simulate_night darkens within its documented range, keeps shape and dtype, and is deterministic per seed."""
import numpy as np
import pytest

from s2dhm_ros.geometry import Camera
from s2dhm_ros.synthetic.appearance import headlight_falloff, simulate_night
from s2dhm_ros.synthetic.render import render
from s2dhm_ros.synthetic.scene import make_street_scene
from s2dhm_ros.synthetic.trajectory import Drive, camera_mount


@pytest.fixture(scope="module")
def day():
    scene = make_street_scene(length=40.0, seed=1)
    camera = Camera("PINHOLE", 200, 150, (156.0, 156.0, 100.0, 75.0))
    pose = (Drive(scene.road, 5.0, 10.0, 0).map_from_base(0) * camera_mount()).inverse()
    return render(scene, camera, pose)


@pytest.mark.parametrize("headlight", [False, True])
def test_darkens_within_documented_range(day, headlight):
    for seed in range(4):
        night = simulate_night(day.image, np.random.default_rng(seed), headlight=headlight, depth=day.depth)
        assert night.shape == day.image.shape and night.dtype == np.uint8
        assert 0.1 <= night.mean() / day.image.mean() <= 0.5


def test_any_rgb_image_and_radial_headlight():
    rng = np.random.default_rng(0)
    photo = (rng.random((37, 53, 3)) * 255).astype(np.uint8)  # odd size, no depth
    plain = simulate_night(photo, np.random.default_rng(1))
    lit = simulate_night(photo, np.random.default_rng(1), headlight=True)
    assert plain.shape == photo.shape and plain.dtype == np.uint8
    assert 0.1 <= plain.mean() / photo.mean() <= 0.5
    assert lit[-10:].mean() > plain[-10:].mean()  # headlights light the bottom of the image
    with pytest.raises(ValueError):
        simulate_night(photo.astype(np.float32), rng)


def test_deterministic_per_seed(day):
    a = simulate_night(day.image, np.random.default_rng(7), headlight=True, depth=day.depth)
    b = simulate_night(day.image, np.random.default_rng(7), headlight=True, depth=day.depth)
    c = simulate_night(day.image, np.random.default_rng(8), headlight=True, depth=day.depth)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_strength_zero_keeps_the_image(day):
    out = simulate_night(day.image, np.random.default_rng(0), strength=0.0)
    assert abs(out.mean() / day.image.mean() - 1.0) < 0.02


def test_headlight_falloff_with_depth():
    depth = np.full((10, 20), 8.0)
    depth[:3] = np.inf
    beam = headlight_falloff(10, 20, depth)
    assert np.all(beam[:3] == 0)  # sky: nothing to light
    assert np.all(beam <= 0.25 + 1e-12)  # (4 m / 8 m)^2
    np.testing.assert_allclose(beam[3:], headlight_falloff(10, 20)[3:] * 0.25)
