"""The synthetic street bags: readable, TF chain = ground truth, 1 m day spacing, night offset as documented."""
import argparse

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bag_helpers import pose_from_fields, read_messages

from s2dhm_ros.cli import demo_data_commands
from s2dhm_ros.geometry import Pose
from s2dhm_ros.io.images import image_from_msg
from s2dhm_ros.synthetic.street_bag import NIGHT_LATERAL_OFFSET, NIGHT_WEAVE, make_street_bags
from s2dhm_ros.io.tum import read_tum
from s2dhm_ros.synthetic.trajectory import camera_mount

DAY, NIGHT = 12, 6


@pytest.fixture(scope="module", params=["sqlite3", "mcap"])
def dataset(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    calls = []
    ds = make_street_bags(out, storage=request.param, num_frames=DAY, num_night_frames=NIGHT,
                          image_size=(96, 72), seed=5, progress=calls.append)
    assert sum(calls) == DAY + NIGHT
    return ds




@pytest.mark.parametrize("name", ["day", "night"])
def test_bag_contents_and_tf_chain_equal_ground_truth(dataset, name):
    traversal = getattr(dataset, name)
    msgs = read_messages(traversal.bag)
    n = DAY if name == "day" else NIGHT
    topics = dataset.topics
    assert {t: len(m) for t, m in msgs.items()} == {
        topics.image: n, topics.camera_info: n, topics.tf: 2 * n + 1, topics.odom: 2 * n + 1, topics.tf_static: 1}
    frames = dataset.frames

    (static,) = msgs[topics.tf_static][0][1].transforms
    assert (static.header.frame_id, static.child_frame_id) == (frames.base_link, frames.camera)
    base_from_cam = pose_from_fields(static.transform.translation, static.transform.rotation)
    assert abs(base_from_cam.t[2] - 1.5) < 1e-9
    assert base_from_cam.R[:, 2] @ [1, 0, 0] > 0.99  # looks forward

    tf = {}
    for stamp, msg in msgs[topics.tf]:
        for t in msg.transforms:
            assert t.header.stamp.sec * 10**9 + t.header.stamp.nanosec == stamp
            tf[(t.header.frame_id, t.child_frame_id, stamp)] = pose_from_fields(t.transform.translation,
                                                                                t.transform.rotation)
    odom = {stamp: m for stamp, m in msgs[topics.odom]}
    gt_stamps, gt_poses = read_tum(traversal.groundtruth)
    image_stamps = [stamp for stamp, _ in msgs[topics.image]]
    assert image_stamps == gt_stamps == list(traversal.stamps_ns)
    for stamp, gt, cam_from_world in zip(gt_stamps, gt_poses, traversal.cam_from_world):
        map_from_odom = tf[(frames.map, frames.odom, stamp)]
        odom_from_base = tf[(frames.odom, frames.base_link, stamp)]
        assert np.linalg.norm(map_from_odom.t) > 1.0  # odom drifts from map
        map_from_cam = map_from_odom * odom_from_base * base_from_cam
        np.testing.assert_allclose(map_from_cam.matrix, gt.matrix, atol=1e-6)
        np.testing.assert_allclose(cam_from_world.matrix, gt.inverse().matrix, atol=1e-6)
        p = odom[stamp].pose.pose
        odom_pose = Pose(Rotation.from_quat([p.orientation.x, p.orientation.y, p.orientation.z,
                                             p.orientation.w]).as_matrix(),
                         [p.position.x, p.position.y, p.position.z])
        np.testing.assert_allclose(odom_pose.matrix, odom_from_base.matrix, atol=1e-9)

    _, image_msg = msgs[topics.image][0]
    _, info = msgs[topics.camera_info][0]
    assert image_msg.encoding == "rgb8" and image_msg.header.frame_id == frames.camera
    assert image_from_msg(image_msg).shape == (72, 96, 3)
    assert (info.width, info.height) == (96, 72) and info.header.frame_id == frames.camera


def test_day_frames_are_one_metre_apart(dataset):
    centres = np.array([p.center for p in dataset.day.cam_from_world])
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert np.all((steps > 0.97) & (steps < 1.05)), steps


def test_night_is_offset_to_the_left_and_darker(dataset):
    day = np.array([p.center for p in dataset.day.cam_from_world])
    # The day path, densely: it is smooth, 1 m samples interpolated linearly are accurate to millimetres.
    dense = np.concatenate([day[i] + np.linspace(0, 1, 50, endpoint=False)[:, None] * (day[i + 1] - day[i])
                            for i in range(len(day) - 1)])
    for pose in dataset.night.cam_from_world:
        c = pose.center
        i = int(np.argmin(np.linalg.norm(dense - c, axis=1)))
        assert 0 < i < len(dense) - 1  # within the mapped stretch
        tangent = dense[i + 1] - dense[i - 1]
        side = np.cross(tangent, c - dense[i])[2]
        lateral = np.linalg.norm(c - dense[i])
        # Base offset 1.5 +- 0.25 m weave; the camera, 1.8 m ahead of base_link, swings +-6 cm with the 2 deg wobble.
        assert side > 0  # to the left
        assert NIGHT_LATERAL_OFFSET - NIGHT_WEAVE - 0.1 < lateral < NIGHT_LATERAL_OFFSET + NIGHT_WEAVE + 0.1
        day_pose = dataset.day.cam_from_world[min(int(round(i / 50)), len(day) - 1)]
        angle = np.degrees(np.arccos(np.clip((np.trace(pose.R @ day_pose.R.T) - 1) / 2, -1, 1)))
        assert angle < 5.0
    day_img = image_from_msg(read_messages(dataset.day.bag)[dataset.topics.image][3][1])
    night_img = image_from_msg(read_messages(dataset.night.bag)[dataset.topics.image][1][1])
    assert night_img.mean() < 0.5 * day_img.mean()


def test_refuses_to_overwrite(dataset):
    with pytest.raises(FileExistsError):
        make_street_bags(dataset.root, num_frames=2, num_night_frames=2, image_size=(32, 24))


def test_rear_camera_looks_backwards(tmp_path):
    mount = camera_mount(rear=True)
    assert mount.R[:, 2] @ [-1, 0, 0] > 0.99 and mount.t[0] < 0 and abs(mount.t[2] - 1.5) < 1e-12
    ds = make_street_bags(tmp_path, num_frames=3, num_night_frames=2, image_size=(48, 32), rear_camera=True)
    (static,) = read_messages(ds.day.bag)[ds.topics.tf_static][0][1].transforms
    static_pose = pose_from_fields(static.transform.translation, static.transform.rotation)
    np.testing.assert_allclose(static_pose.matrix, mount.matrix, atol=1e-12)
    np.testing.assert_allclose(ds.base_from_camera.matrix, mount.matrix)


def test_cli_writes_the_bags(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    demo_data_commands.register(parser.add_subparsers())
    args = parser.parse_args(["make-demo-bag", "--out", str(tmp_path / "demo"), "--storage", "mcap", "--frames", "3",
                              "--night-frames", "2", "--size", "48x32", "--seed", "2"])
    assert args.func(args) == 0
    assert (tmp_path / "demo" / "day" / "metadata.yaml").exists()
    assert (tmp_path / "demo" / "groundtruth_night.txt").exists()
    assert "night bag" in capsys.readouterr().out
