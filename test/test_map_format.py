"""Map round trip, atomic writes and clear errors on bad maps."""

import os
import stat

import numpy as np
import pycolmap
import pytest
import yaml

from s2dhm_ros.geometry import Camera, Pose
from s2dhm_ros.map_format import FORMAT_VERSION, MapError, SparseMap
from s2dhm_ros.retrieval import PcaWhitening


def make_map(R=3, per_ref=5, C=8, seed=0) -> SparseMap:
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
        global_descriptors=pca(globals_), pca=pca, metadata={"source": "test"})


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
    for cut in range(0, len(text), 7):
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
