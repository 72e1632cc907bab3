"""Map building sharded over a Dask cluster (a LocalCluster of worker processes here) gives the map of the
single-process build, array by array and bit for bit."""
import numpy as np
import pytest

from s2dhm_ros.mapping import builder
from s2dhm_ros.mapping.builder import build_map
from s2dhm_ros.mapping.engine import DaskEngine, create_engine
from s2dhm_ros.map_format import ARRAYS

pytest.importorskip("dask.distributed")


@pytest.mark.slow  # ~25 s on 2 cores: two builds and a cluster of worker processes
def test_sharded_build_is_the_single_machine_build(street, tmp_path, monkeypatch):
    frames = street[0][:5]
    # Small work items so that matches and tracks are split over several tasks and merged back.
    monkeypatch.setattr(builder, "PAIRS_PER_TASK", 2)
    monkeypatch.setattr(builder, "TRACKS_PER_TASK", 40)
    here, summary = build_map(frames, progress=False)
    engine = create_engine("local:2")
    try:
        assert isinstance(engine, DaskEngine)
        sharded, sharded_summary = build_map(frames, progress=False, engine=engine)
    finally:
        engine.close()
    assert summary.points3D > 100 and summary.pairs > 2 and summary.points3D > 40 * 2  # several tasks each
    for name in ARRAYS:
        a, b = getattr(here, name), getattr(sharded, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b), f"{name} differs between the local and the sharded build"
    assert np.array_equal(here.pca.projection, sharded.pca.projection)
    assert sharded_summary.mean_reprojection_error_px == summary.mean_reprojection_error_px


@pytest.mark.parametrize("address", ["local:x", "local:0"])
def test_bad_scheduler_is_a_clear_error(address):
    with pytest.raises(ValueError, match="local:N|at least one worker"):
        create_engine(address)
