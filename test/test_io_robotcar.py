"""RobotCar → rosbag2 on a tiny folder in the dataset's layout (as robotcar-dataset-sdk reads it).

Real mono images are 1024x1024 (stereo 1280x960); 64x48 keeps the test fast, nothing depends on the size.
"""
import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest

from s2dhm_ros.cli.bag_commands import register
from s2dhm_ros.io.bag_reader import BagReader
from s2dhm_ros.io.bag_source import iter_bag_images
from s2dhm_ros.io.camera_info import camera_from_camera_info
from s2dhm_ros.io.images import mosaic
from s2dhm_ros.io.tf_buffer import TfBuffer

W, H = 64, 48
T0_US = 1418381798076035
IMAGE_STAMPS = [T0_US + k * 62_500 for k in range(4)]  # 16 Hz
INS_STAMPS = [T0_US - 100_000 + k * 20_000 for k in range(20)]  # 50 Hz, covering the images
INS_HEADER = ("timestamp,ins_status,latitude,longitude,altitude,northing,easting,down,utm_zone,velocity_north,"
              "velocity_east,velocity_down,roll,pitch,yaw")
INS_EXTRINSICS = [-1.7132, 0.1181, 1.1948, -0.0125, 0.0400, 0.0050]
MONO_REAR_EXTRINSICS = [-2.0582, 0.0894, 0.3675, -0.0119, -0.2498, 3.1283]
FLAT = (200, 120, 40)


def rot(roll, pitch, yaw):
    """The SDK's euler_to_so3, written out: Rz(yaw) Ry(pitch) Rx(roll)."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def se3(xyzrpy):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rot(*xyzrpy[3:]), xyzrpy[:3]
    return T


def ins_row(k):
    """Heading east (yaw 90 deg) at 5 m/s, with a little roll and pitch."""
    t = (INS_STAMPS[k] - INS_STAMPS[0]) / 1e6
    return [5735000.0 + 0.1 * t, 620000.0 + 5.0 * t, -60.0, 0.01, -0.02, np.pi / 2 + 0.01 * t]


def scene(k):
    rng = np.random.default_rng(k)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    image[10:30, 10:40] = FLAT
    return image


@pytest.fixture
def dataset(tmp_path) -> Path:
    root = tmp_path / "2014-12-12-10-45-15"
    for folder in ("mono_rear", "gps", "models", "extrinsics"):
        (root / folder).mkdir(parents=True)
    for k, stamp in enumerate(IMAGE_STAMPS):
        cv2.imwrite(str(root / "mono_rear" / f"{stamp}.png"), mosaic(scene(k), "bayer_rggb8"))
    # The last listed image is "not downloaded", as happens with a missing chunk.
    (root / "mono_rear.timestamps").write_text("".join(f"{s} 1\n" for s in IMAGE_STAMPS + [T0_US + 400_000]))
    rows = [f"{s},INS_SOLUTION_GOOD,51.76,-1.26,110.0,{n},{e},{d},30U,0.1,5.0,0.0,{r},{p},{y}"
            for s, (n, e, d, r, p, y) in zip(INS_STAMPS, map(ins_row, range(len(INS_STAMPS))))]
    (root / "gps" / "ins.csv").write_text(INS_HEADER + "\n" + "\n".join(rows) + "\n")
    (root / "models" / "mono_rear.txt").write_text(
        "400.000000 400.000000 508.222931 498.187378\n0 0 1 0\n1 0 0 0\n0 1 0 0\n0 0 0 1\n")
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    np.concatenate([(u + 1).ravel(), v.ravel()]).tofile(root / "models" / "mono_rear_distortion_lut.bin")
    (root / "extrinsics" / "mono_rear.txt").write_text(" ".join(map(str, MONO_REAR_EXTRINSICS)) + "\n")
    (root / "extrinsics" / "ins.txt").write_text(" ".join(map(str, INS_EXTRINSICS)) + "\n")
    return root


def convert(root: Path, out: Path, *extra: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["robotcar-to-bag", "--images", str(root / "mono_rear"), "--ins",
                              str(root / "gps" / "ins.csv"), "--models", str(root / "models"), "--extrinsics",
                              str(root / "extrinsics"), "--camera", "mono_rear", "--out", str(out), *extra])
    return args.func(args)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_converted_bag(dataset, tmp_path, storage):
    out = tmp_path / "robotcar_bag"
    assert convert(dataset, out, "--storage", storage) == 0

    images = list(iter_bag_images(out, "/mono_rear/image_raw"))
    assert len(images) == 4
    stamp, image, camera, frame_id = images[1]
    assert stamp == IMAGE_STAMPS[1] * 1000 and frame_id == "mono_rear_optical_frame"
    raw = cv2.imread(str(dataset / "mono_rear" / f"{IMAGE_STAMPS[1]}.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(image[20, 25], cv2.cvtColor(raw, cv2.COLOR_BayerRGGB2RGB)[20, 25])  # mono: RGGB (SDK)
    assert tuple(image[20, 25]) == FLAT

    with BagReader(out) as bag:
        info = next(bag.messages(["/mono_rear/camera_info"])).msg
        assert (info.width, info.height, info.distortion_model) == (W, H, "plumb_bob")
        assert np.allclose(info.k, [400, 0, 508.222931, 0, 400, 498.187378, 0, 0, 1], atol=1e-9)
        assert camera == camera_from_camera_info(info)
        tf = TfBuffer.from_messages((m.msg, m.topic == "/tf_static") for m in bag.messages(["/tf", "/tf_static"]))
        odometry = [m.msg for m in bag.messages(["/ins/odometry"])]
    assert len(odometry) == len(INS_STAMPS)

    # The independent expectation, from the SDK conventions: NED world, FRD vehicle; map ENU, base_link FLU.
    enu_from_ned = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]], float)
    flu_from_frd = np.diag([1.0, -1.0, -1.0])
    ned_from_vehicle = [se3(ins_row(k)) @ np.linalg.inv(se3(INS_EXTRINSICS)) for k in range(len(INS_STAMPS))]
    origin = ned_from_vehicle[0][:3, 3]
    k = 7
    map_from_base = tf.lookup("map", "base_link", INS_STAMPS[k] * 1000)
    assert np.allclose(map_from_base.R, enu_from_ned @ ned_from_vehicle[k][:3, :3] @ flu_from_frd, atol=1e-9)
    assert np.allclose(map_from_base.t, enu_from_ned @ (ned_from_vehicle[k][:3, 3] - origin), atol=1e-9)
    assert np.allclose(tf.lookup("map", "base_link", INS_STAMPS[0] * 1000).t, 0.0, atol=1e-9)
    # Heading east, so base_link's x axis points east (map x) and its z axis up; the car moved east.
    assert np.allclose(map_from_base.R[:, 0], [1, 0, 0], atol=0.1) and map_from_base.R[2, 2] > 0.99
    assert map_from_base.t[0] > 0.5
    # The camera: base_link ← vehicle ← camera (extrinsics) ← optical (G_camera_image).
    g_camera_image = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)
    base_from_optical = tf.lookup("base_link", "mono_rear_optical_frame", 0)
    assert np.allclose(base_from_optical.R, flu_from_frd @ rot(*MONO_REAR_EXTRINSICS[3:]) @ g_camera_image, atol=1e-9)
    assert np.allclose(base_from_optical.t, flu_from_frd @ MONO_REAR_EXTRINSICS[:3], atol=1e-9)
    assert base_from_optical.R[0, 2] < -0.9  # the rear camera looks backwards


def test_undistortion_with_the_lut(dataset, tmp_path):
    out = tmp_path / "rect"
    assert convert(dataset, out, "--undistort") == 0
    images = list(iter_bag_images(out, "/mono_rear/image_rect"))
    raw = cv2.imread(str(dataset / "mono_rear" / f"{IMAGE_STAMPS[0]}.png"), cv2.IMREAD_UNCHANGED)
    demosaiced = cv2.cvtColor(raw, cv2.COLOR_BayerRGGB2RGB)
    assert np.array_equal(images[0][1][5:-5, 5:-5], demosaiced[5:-5, 6:-4])  # the LUT samples one pixel right


def test_missing_inputs_are_clear(dataset, tmp_path):
    (dataset / "extrinsics" / "ins.txt").unlink()
    with pytest.raises(FileNotFoundError, match="ins.txt"):
        convert(dataset, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_stereo_camera_is_gbrg_and_defines_the_vehicle_frame(dataset, tmp_path):
    """The stereo camera's PNGs are GBRG (SDK image.py); its folder is stereo/centre, its timestamps
    stereo.timestamps."""
    images = dataset / "stereo" / "centre"
    images.mkdir(parents=True)
    for k, stamp in enumerate(IMAGE_STAMPS):
        cv2.imwrite(str(images / f"{stamp}.png"), mosaic(scene(k), "bayer_gbrg8"))
    (dataset / "stereo.timestamps").write_text("".join(f"{s} 1\n" for s in IMAGE_STAMPS))
    (dataset / "models" / "stereo_narrow_left.txt").write_text(
        "983.044006 983.044006 643.646973 493.378998\n0 0 1 0.0\n1 0 0 0.119471\n0 1 0 0\n0 0 0 1\n")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "stereo_bag"
    args = parser.parse_args(["robotcar-to-bag", "--images", str(images), "--ins", str(dataset / "gps" / "ins.csv"),
                              "--models", str(dataset / "models"), "--extrinsics", str(dataset / "extrinsics"),
                              "--camera", "stereo_centre", "--out", str(out), "--storage", "mcap"])
    assert args.func(args) == 0
    stamp, image, camera, _ = list(iter_bag_images(out, "/stereo_centre/image_raw"))[2]
    raw = cv2.imread(str(images / f"{IMAGE_STAMPS[2]}.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(image, cv2.cvtColor(raw, cv2.COLOR_BayerGBRG2RGB)) and tuple(image[20, 25]) == FLAT
    assert camera.params[:2] == (983.044006, 983.044006)
    with BagReader(out) as bag:
        tf = TfBuffer.from_messages((m.msg, True) for m in bag.messages(["/tf_static"]))
    base_from_optical = tf.lookup("base_link", "stereo_centre_optical_frame", 0)
    g_camera_image = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)
    assert np.allclose(base_from_optical.R, np.diag([1.0, -1.0, -1.0]) @ g_camera_image, atol=1e-12)
    assert np.allclose(base_from_optical.t, [0.0, -0.119471, 0.0], atol=1e-12)
