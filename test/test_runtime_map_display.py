"""The map as RViz shows it: points as a PointCloud2 that decodes back to the map's points, reference cameras as a
PoseArray at their centres with x along the optical axis (RViz's arrows)."""
from types import SimpleNamespace

import numpy as np
from scipy.spatial.transform import Rotation

from s2dhm_ros.geometry import Pose
from s2dhm_ros.io.bag_writer import default_typestore
from s2dhm_ros.ros.messages import point_cloud, pose_array
from s2dhm_ros.runtime.map_display import map_points, reference_poses

STORE = default_typestore()


def roundtrip(msg):
    return STORE.deserialize_cdr(STORE.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def test_points_and_reference_poses_as_messages():
    rng = np.random.default_rng(0)
    map_from_camera = [Pose(Rotation.random(random_state=i).as_matrix(), rng.normal(size=3)) for i in range(4)]
    sparse_map = SimpleNamespace(points3D=rng.normal(scale=20.0, size=(50, 3)),
                                 cam_from_world=[p.inverse() for p in map_from_camera])
    cloud = roundtrip(point_cloud(map_points(sparse_map), "map", 5, STORE))
    assert (cloud.width, cloud.height, cloud.point_step, cloud.row_step) == (50, 1, 12, 600)
    assert [(f.name, f.offset, f.datatype) for f in cloud.fields] == [("x", 0, 7), ("y", 4, 7), ("z", 8, 7)]
    assert np.allclose(np.frombuffer(cloud.data.tobytes(), "<f4").reshape(-1, 3), sparse_map.points3D, atol=1e-5)
    poses = reference_poses(sparse_map)
    for shown, camera in zip(poses, map_from_camera):
        assert np.allclose(shown.t, camera.t)
        assert np.allclose(shown.R[:, 0], camera.R[:, 2])  # arrow (x) = optical axis (z)
        assert np.allclose(shown.R[:, 2], -camera.R[:, 1])  # up = -image y
    msg = roundtrip(pose_array(poses, "map", 5, STORE))
    assert msg.header.frame_id == "map" and len(msg.poses) == 4
    q = msg.poses[0].orientation
    assert np.allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), poses[0].R, atol=1e-6)
