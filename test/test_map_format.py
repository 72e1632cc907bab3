"""Map round trip, atomic writes and clear errors on bad maps."""

import argparse
import os
import stat

import numpy as np
import pycolmap
import pytest
import yaml
from scipy.spatial.transform import Rotation

from s2dhm_ros.cli.verify_map_command import run as verify_map_command
from s2dhm_ros.config import MapStorageConfig
from s2dhm_ros.geometry import Camera, Pose
from s2dhm_ros.map_format import FORMAT_VERSION, MapError, SparseMap
from s2dhm_ros.retrieval import PcaWhitening

AS_GIVEN = {"descriptor_codec": "float16", "descriptor_dim": 0}  # storage that keeps the descriptors as they are


def make_map(R=3, per_ref=5, C=8, seed=0, storage=None) -> SparseMap:
    rng = np.random.default_rng(seed)
    P = R * per_ref
    M = 7
    globals_ = rng.normal(size=(R, 20)).astype(np.float32)
    pca = PcaWhitening.fit(globals_, 1024)
    return SparseMap(
        frame_id="map", backbone="dense_sift", fingerprint="dense_sift:test",
        reference_names=[f"ref{r}.jpg" for r in range(R)],
        cameras=[Camera("PINHOLE", 64, 48, (50, 50, 32, 24))] * R,
        cam_from_world=[Pose(np.eye(3), np.array([r, 0.0, 0.0])) for r in range(R)],
        keypoints=rng.uniform(0, 48, (P, 2)), point_index=rng.integers(0, M, P),
        descriptors=rng.normal(size=(P, C)).astype(np.float16),
        offsets=np.arange(0, P + 1, per_ref), points3D=rng.normal(size=(M, 3)),
        global_descriptors=pca(globals_), pca=pca, metadata={"source": "test"},
        storage=storage or MapStorageConfig(**AS_GIVEN))


def test_round_trip(tmp_path):
    m = make_map()
    m.save(tmp_path / "map")
    loaded = SparseMap.load(tmp_path / "map")
    for name in ("keypoints", "point_index", "descriptors", "offsets", "points3D", "global_descriptors"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(m, name))
    assert loaded.reference_names == m.reference_names and loaded.cameras == m.cameras
    np.testing.assert_allclose(loaded.cam_from_world[2].t, [2, 0, 0])
    assert loaded.metadata["source"] == "test" and loaded.index.ntotal == 3
    # the COLMAP model opens in COLMAP's reader with the known poses and the tracks
    rec = pycolmap.Reconstruction(str(tmp_path / "map" / "colmap"))
    assert rec.num_images() == 3 and rec.num_points3D() == len(np.unique(m.point_index))
    header = yaml.safe_load((tmp_path / "map" / "map.yaml").read_text())
    assert header["format_version"] == FORMAT_VERSION and header["counts"]["keypoints"] == 15


def test_save_replaces_existing_map_atomically(tmp_path):
    make_map(seed=0).save(tmp_path / "map")
    make_map(seed=1).save(tmp_path / "map")
    assert SparseMap.load(tmp_path / "map").keypoints[0, 0] == make_map(seed=1).keypoints[0, 0]
    assert [p.name for p in tmp_path.iterdir()] == ["map"]  # no temporary or old directories left


def test_saved_map_is_readable_by_other_users(tmp_path):
    old = os.umask(0o022)
    try:
        make_map().save(tmp_path / "map")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "map").stat().st_mode) == 0o755


def test_failed_save_leaves_previous_map(tmp_path, monkeypatch):
    make_map(seed=0).save(tmp_path / "map")
    m = make_map(seed=1)
    monkeypatch.setattr(SparseMap, "to_reconstruction", lambda self: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        m.save(tmp_path / "map")
    assert SparseMap.load(tmp_path / "map").keypoints[0, 0] == make_map(seed=0).keypoints[0, 0]
    assert [p.name for p in tmp_path.iterdir()] == ["map"]


@pytest.mark.parametrize("damage,message", [
    (lambda d: (d / "descriptors.npy").write_bytes((d / "descriptors.npy").read_bytes()[:100]), "corrupt"),
    (lambda d: (d / "points3D.npy").unlink(), "missing"),
    (lambda d: (d / "map.yaml").write_text((d / "map.yaml").read_text().replace(
        f"format_version: {FORMAT_VERSION}", "format_version: 99")), "version 99"),
    (lambda d: (d / "map.yaml").write_text("{{{ not yaml"), "corrupt"),
    (lambda d: (d / "map.yaml").unlink(), "not an s2dhm map"),
])
def test_damaged_maps_give_clear_errors(tmp_path, damage, message):
    make_map().save(tmp_path / "map")
    damage(tmp_path / "map")
    with pytest.raises(MapError, match=message):
        SparseMap.load(tmp_path / "map")


def test_truncated_file_without_checksum_check_is_still_caught(tmp_path):
    make_map().save(tmp_path / "map")
    f = tmp_path / "map" / "keypoints.npy"
    f.write_bytes(f.read_bytes()[:90])
    with pytest.raises(MapError, match="corrupt or truncated"):
        SparseMap.load(tmp_path / "map", verify_checksums=False)


def test_every_truncation_of_the_header_is_an_error(tmp_path):
    """A map.yaml cut anywhere (often still valid YAML) never loads, and never loads unchecked."""
    make_map().save(tmp_path / "map")
    header = tmp_path / "map" / "map.yaml"
    text = header.read_text()
    for cut in range(0, len(text.rstrip()), 7):  # (a cut of the final newline alone loses nothing)
        header.write_text(text[:cut])
        with pytest.raises(MapError, match="map.yaml"):
            SparseMap.load(tmp_path / "map")
    header.write_text(text)
    assert SparseMap.load(tmp_path / "map").num_references == 3


def test_inconsistent_or_empty_maps_are_rejected():
    m = make_map()
    with pytest.raises(MapError, match="NaN"):
        SparseMap(**{**_fields(m), "points3D": np.full_like(m.points3D, np.nan)})
    with pytest.raises(MapError, match="missing 3D points"):
        SparseMap(**{**_fields(m), "point_index": m.point_index + 100})
    with pytest.raises(MapError, match="no reference"):
        SparseMap(**{**_fields(m), "reference_names": [], "cameras": [], "cam_from_world": [],
                     "offsets": np.array([0]), "keypoints": np.zeros((0, 2)), "point_index": np.zeros(0, int),
                     "descriptors": np.zeros((0, 8), np.float16), "global_descriptors": np.zeros((0, 2))})


def _fields(m: SparseMap) -> dict:
    return {k: getattr(m, k) for k in ("frame_id", "backbone", "fingerprint", "reference_names", "cameras",
                                       "cam_from_world", "keypoints", "point_index", "descriptors", "offsets",
                                       "points3D", "global_descriptors", "pca", "metadata")}


def test_opening_maps_arrays_and_reads_only_the_rows_used(tmp_path):
    """Arrays are memory-mapped; a reference's rows are read and verified on first use, the others never."""
    m = make_map(R=6, per_ref=40, C=16, storage=MapStorageConfig(checksum_block_bytes=512, **AS_GIVEN))
    m.save(tmp_path / "map")
    loaded = SparseMap.load(tmp_path / "map")
    assert isinstance(loaded.descriptors, np.memmap) and isinstance(loaded.points3D, np.memmap)
    verifier = loaded._mapped["descriptors"].verifier
    assert len(verifier.digests) > 6 and not verifier.verified.any()  # nothing hashed at open
    rows = loaded.reference_rows([4])
    np.testing.assert_array_equal(loaded.local_descriptors(rows), m.descriptors[rows])
    np.testing.assert_array_equal(loaded.keypoint_points3D(rows), m.points3D[m.point_index[rows]])
    offset = loaded._mapped["descriptors"]._offset
    row_bytes = 16 * 2
    touched = set(range((offset + rows[0] * row_bytes) // 512, (offset + (rows[-1] + 1) * row_bytes - 1) // 512 + 1))
    assert set(np.flatnonzero(verifier.verified)) == touched


def test_damage_inside_a_file_is_caught_on_first_use_and_by_verify_map(tmp_path, capsys):
    m = make_map(R=6, per_ref=40, C=16, storage=MapStorageConfig(checksum_block_bytes=512, **AS_GIVEN))
    m.save(tmp_path / "map")
    path = tmp_path / "map" / "descriptors.npy"
    data = bytearray(path.read_bytes())
    damaged_row = int(m.offsets[5]) + 3  # in the last reference
    byte = len(data) - m.descriptors.nbytes + damaged_row * 32
    data[byte] ^= 0xFF
    path.write_bytes(bytes(data))
    loaded = SparseMap.load(tmp_path / "map")  # same size: opening does not read the descriptors
    loaded.local_descriptors(loaded.reference_rows([0, 1]))  # intact references still localize
    with pytest.raises(MapError, match=r"descriptors.npy: bytes .* differ from their checksum.*damaged"):
        loaded.local_descriptors(loaded.reference_rows([5]))
    assert verify_map(tmp_path / "map") == 1
    out = capsys.readouterr().out
    assert "DAMAGED  descriptors.npy" in out and "ok       points3D.npy" in out and "rebuild the map" in out
    with pytest.raises(MapError, match="damaged"):
        loaded.save(tmp_path / "copy")  # re-saving an opened map never launders damage under new checksums
    m.save(tmp_path / "map")
    assert verify_map(tmp_path / "map") == 0
    assert capsys.readouterr().out.strip().endswith("intact")


def test_verify_map_finds_bad_values_behind_valid_checksums(tmp_path, monkeypatch, capsys):
    """verify-map also checks values: a map written with fresh checksums by a tool that skipped validation."""
    m = make_map()
    m.points3D[0] = np.nan
    with pytest.raises(MapError, match="NaN"):
        m.save(tmp_path / "map")  # saving validates
    monkeypatch.setattr(SparseMap, "validate", lambda self, check_values=True: None)
    m.save(tmp_path / "map")
    monkeypatch.undo()
    assert verify_map(tmp_path / "map") == 1
    assert "NaN" in capsys.readouterr().out


def test_old_format_version_asks_for_a_rebuild(tmp_path):
    make_map().save(tmp_path / "map")
    header = tmp_path / "map" / "map.yaml"
    header.write_text(header.read_text().replace(f"format_version: {FORMAT_VERSION}", "format_version: 1"))
    with pytest.raises(MapError, match=r"version 1, this s2dhm_ros reads version 2.*rebuild the map with `s2dhm "
                                       "build-map`"):
        SparseMap.load(tmp_path / "map")


def test_poses_and_cameras_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(3)
    m = make_map(R=4)
    m.cam_from_world = [Pose(Rotation.random(random_state=r).as_matrix(), rng.normal(size=3)) for r in range(4)]
    m.cameras = [Camera("PINHOLE", 64, 48, (50, 50, 32, 24)), Camera("SIMPLE_RADIAL", 80, 60, (70, 40, 30, 0.01))] * 2
    m.save(tmp_path / "map")
    loaded = SparseMap.load(tmp_path / "map")
    assert loaded.cameras == m.cameras
    for a, b in zip(loaded.cam_from_world, m.cam_from_world):
        np.testing.assert_allclose(a.R, b.R, atol=1e-12)
        np.testing.assert_allclose(a.t, b.t)


def test_pca_reduced_descriptors_decode_close_to_the_originals(tmp_path):
    """PCA to d dims in float16: descriptors of rank <= d come back to fp16 precision, in memory and from disk;
    the file is C / d times smaller."""
    rng = np.random.default_rng(1)
    full = make_map(R=4, per_ref=200, C=64)
    basis = np.linalg.qr(rng.normal(size=(64, 8)))[0]
    unit = rng.normal(size=(800, 8)) @ basis.T
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    fields = {**_fields(full), "descriptors": unit.astype(np.float16)}
    reduced = SparseMap(**fields, storage=MapStorageConfig(descriptor_dim=8, descriptor_codec="float16"))
    assert reduced.descriptors.shape == (800, 8) and reduced.descriptor_dim == 64
    rows = reduced.reference_rows([1, 3])
    np.testing.assert_allclose(reduced.local_descriptors(rows), unit[rows], atol=3e-3)
    reduced.save(tmp_path / "map")
    loaded = SparseMap.load(tmp_path / "map")
    np.testing.assert_array_equal(loaded.local_descriptors(rows), reduced.local_descriptors(rows))
    header = yaml.safe_load((tmp_path / "map" / "map.yaml").read_text())
    assert header["storage"]["descriptors"] == "float16" and header["storage"]["descriptor_pca_dim"] == 8
    assert header["counts"]["descriptor_dim"] == 64
    SparseMap(**fields, storage=MapStorageConfig(**AS_GIVEN)).save(tmp_path / "full")
    size = {name: (tmp_path / name / "descriptors.npy").stat().st_size for name in ("full", "map")}
    assert size["full"] > 7 * size["map"]


def verify_map(path) -> int:
    """`s2dhm verify-map PATH` (its module alone: the whole command line imports torch and ROS readers)."""
    return verify_map_command(argparse.Namespace(map=path))


def test_camera_centers_of_a_pose_table_are_the_poses_centres():
    """The localizer's prior search reads reference centres from the map's pose arrays, not from 20,000 Poses."""
    from scipy.spatial.transform import Rotation

    from s2dhm_ros.geometry import Pose
    from s2dhm_ros.map_format import PoseTable, camera_centers, pose_table
    rng = np.random.default_rng(3)
    poses = [Pose(Rotation.random(random_state=i).as_matrix(), rng.normal(size=3) * 10) for i in range(6)]
    expected = np.array([p.center for p in poses])
    assert np.allclose(camera_centers(poses), expected, atol=1e-12)
    assert np.allclose(camera_centers(PoseTable.from_qvec_tvec(pose_table(poses))), expected, atol=1e-9)
