"""CameraInfo / calibration YAML → Camera, for each distortion model, with exact parameter values."""
import numpy as np
import pytest

from s2dhm_ros.geometry import Camera
from s2dhm_ros.io.bag_writer import camera_info_msg
from s2dhm_ros.io.camera_info import camera_from_camera_info, camera_from_yaml

K = [500.0, 0.0, 319.5, 0.0, 510.0, 239.5, 0.0, 0.0, 1.0]


def info(model: str, d: list[float], p: list[float] | None = None):
    msg = camera_info_msg(Camera("PINHOLE", 640, 480, (1, 1, 1, 1)), 0, "cam")
    msg.distortion_model, msg.d, msg.k = model, np.array(d, float), np.array(K)
    if p is not None:
        msg.p = np.array(p, float)
    return msg


@pytest.mark.parametrize("model,d,expected_model,expected_extra", [
    ("plumb_bob", [0.0] * 5, "PINHOLE", ()),
    ("plumb_bob", [-0.1, 0.01, 0.001, -0.002, 0.0], "OPENCV", (-0.1, 0.01, 0.001, -0.002)),
    ("plumb_bob", [-0.1, 0.01, 0.001, -0.002, 0.003], "FULL_OPENCV",
     (-0.1, 0.01, 0.001, -0.002, 0.003, 0.0, 0.0, 0.0)),
    ("rational_polynomial", [-0.1, 0.01, 0.001, -0.002, 0.003, 0.1, 0.2, 0.3], "FULL_OPENCV",
     (-0.1, 0.01, 0.001, -0.002, 0.003, 0.1, 0.2, 0.3)),
    ("rational_polynomial", [0.0] * 8, "PINHOLE", ()),
    ("equidistant", [0.1, -0.02, 0.003, -0.0004], "OPENCV_FISHEYE", (0.1, -0.02, 0.003, -0.0004)),
    ("equidistant", [0.0] * 4, "OPENCV_FISHEYE", (0.0, 0.0, 0.0, 0.0)),
    ("", [], "PINHOLE", ()),
])
def test_models(model, d, expected_model, expected_extra):
    camera = camera_from_camera_info(info(model, d))
    # ROS principal points are pixel-centre-at-integer; COLMAP's are +0.5.
    assert camera == Camera(expected_model, 640, 480, (500.0, 510.0, 320.0, 240.0, *expected_extra))


def test_rectified_uses_p():
    p = [450.0, 0.0, 300.0, 0.0, 0.0, 455.0, 200.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    camera = camera_from_camera_info(info("plumb_bob", [-0.1, 0.01, 0, 0, 0], p), use_rectified=True)
    assert camera == Camera("PINHOLE", 640, 480, (450.0, 455.0, 300.5, 200.5))


def test_round_trip_with_the_writer():
    for camera in [Camera("OPENCV", 64, 48, (50, 51, 32.2, 24.1, 0.1, 0.01, 0.001, 0.002)),
                   Camera("OPENCV_FISHEYE", 64, 48, (50, 51, 32.2, 24.1, 0.1, 0.01, 0.001, 0.002)),
                   Camera("PINHOLE", 64, 48, (50, 51, 32.2, 24.1))]:
        back = camera_from_camera_info(camera_info_msg(camera, 0, "cam"))
        assert back.model == camera.model and np.allclose(back.params, camera.params, atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="unsupported CameraInfo distortion model 'kannala'"):
        camera_from_camera_info(info("kannala", [0.1]))
    zero = info("plumb_bob", [0.0] * 5)
    zero.k = np.zeros(9)
    with pytest.raises(ValueError, match="no focal length"):
        camera_from_camera_info(zero)
    with pytest.raises(ValueError, match="no focal length"):
        camera_from_camera_info(info("plumb_bob", [0.0] * 5, [0.0] * 12), use_rectified=True)


def test_yaml(tmp_path):
    path = tmp_path / "cam.yaml"
    path.write_text("""image_width: 640
image_height: 480
camera_name: front
camera_matrix:
  rows: 3
  cols: 3
  data: [500.0, 0.0, 319.5, 0.0, 510.0, 239.5, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.1, 0.01, 0.001, -0.002, 0.0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [450.0, 0.0, 300.0, 0.0, 0.0, 455.0, 200.0, 0.0, 0.0, 0.0, 1.0, 0.0]
""")
    assert camera_from_yaml(path) == Camera("OPENCV", 640, 480, (500, 510, 320, 240, -0.1, 0.01, 0.001, -0.002))
    assert camera_from_yaml(path, use_rectified=True) == Camera("PINHOLE", 640, 480, (450, 455, 300.5, 200.5))
    bad = tmp_path / "bad.yaml"
    bad.write_text("fx: 500\n")
    with pytest.raises(ValueError, match="camera_calibration"):
        camera_from_yaml(bad)
    with pytest.raises(FileNotFoundError):
        camera_from_yaml(tmp_path / "missing.yaml")
