"""`s2dhm benchmark map-open` on a tiny map: the synthetic map is a valid map of the real format (written by
SparseMap.save, verified whole), and the fresh-process measurement opens and localizes with it."""
import multiprocessing
import resource

import faiss
import numpy as np
import pytest

from s2dhm_ros.config import MapStorageConfig
from s2dhm_ros.evaluation.map_open import disk_usage, format_markdown, open_and_localize, write_synthetic_map
from s2dhm_ros.process_memory import peak_resident_bytes
from s2dhm_ros.map_format import SparseMap


@pytest.mark.parametrize("codec, dim, code_shape, dtype", [("float16", 16, (1200, 16), np.float16),
                                                           ("int8", 0, (1200, 256), np.int8),
                                                           ("pq", 32, (1200, 8), np.uint8)])
def test_synthetic_map_is_a_valid_map_that_localizes(tmp_path, codec, dim, code_shape, dtype):
    storage = MapStorageConfig(descriptor_dim=dim, descriptor_codec=codec, pq_subquantizers=8, ivf_min_references=40,
                               colmap_model=False)
    write_synthetic_map(tmp_path / "map", 40, 30, storage, seed=0)
    sparse_map = SparseMap.load(tmp_path / "map")
    sparse_map.verify()  # every checksum and value
    assert sparse_map.num_references == 40 and len(sparse_map.keypoints) == 40 * 30
    assert sparse_map.descriptors.shape == code_shape and sparse_map.descriptors.dtype == dtype
    assert sparse_map.descriptor_dim == 256  # dense_sift's C
    decoded = sparse_map.local_descriptors(sparse_map.reference_rows([0]))
    np.testing.assert_allclose(np.linalg.norm(decoded, axis=1), 1.0, atol=1e-5)
    assert isinstance(sparse_map.index, faiss.IndexIVF)  # 40 >= ivf_min_references
    # tracks of three consecutive views: reference r sees points made by r-2, r-1 and r
    rows = sparse_map.reference_rows([10])
    owners = np.unique(sparse_map.point_index[rows] // 10)
    np.testing.assert_array_equal(owners, [8, 9, 10])
    usage = disk_usage(tmp_path / "map")
    total = sum(p.stat().st_size for p in (tmp_path / "map").iterdir())
    assert usage["bytes_per_reference"] == total / 40
    assert usage["bytes_read_at_open"] < total - (tmp_path / "map" / "descriptors.npy").stat().st_size

    measured = open_and_localize(str(tmp_path / "map"), 1, (128, 96), 0)
    assert measured["open_s"] > 0 and measured["query_s_median"] > 0
    assert 0 < measured["rss_before_open_bytes"] <= measured["peak_rss_bytes"]
    row = {"references": 40, "keypoints_per_reference": 30, "write_s": 1.0, **usage, **measured}
    table = format_markdown({"machine": {"cpu": "x", "cpu_cores": 2, "torch": "2", "load_average_1min": 1.0},
                             "settings": {"keypoints": 30, "queries": 1, "query_size": [128, 96],
                                          "storage": vars(storage)}, "rows": [row]})
    assert table.count("\n| 40 |") == 1


def test_peak_memory_of_a_spawned_process_is_its_own():
    """ru_maxrss survives exec, so a spawned child reports its parent's peak; VmHWM is the child's own."""
    held = np.ones(100_000_000)  # 800 MB resident in this process
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        child_peak = pool.apply(peak_resident_bytes)
        child_maxrss = pool.apply(resource.getrusage, (resource.RUSAGE_SELF,)).ru_maxrss * 1024
    assert held.sum() == 1e8 and child_maxrss >= 800e6 > 4 * child_peak
