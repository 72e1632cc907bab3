"""Descriptor codecs (s2dhm_ros/descriptor_codec.py) on real hypercolumns of Strecha images: round-trip error per
codec, bytes per keypoint on disk, maps stored with each codec reopen and localize, and a map written before the
codecs (test/data/pca_float16_map) still opens and localizes to the pose it gave then."""
import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from s2dhm_ros.cli.storage_options import add_storage_options, storage_from_options
from s2dhm_ros.config import FeaturesConfig, MapBuilderConfig, MapStorageConfig
from s2dhm_ros.descriptor_codec import DescriptorCodec
from s2dhm_ros.evaluation.leave_one_out import stored_and_reopened
from s2dhm_ros.features import create_extractor
from s2dhm_ros.geometry import pose_error
from s2dhm_ros.io.strecha import read_strecha_scene
from s2dhm_ros.localizer import Localizer
from s2dhm_ros.map_format import PoseTable, SparseMap
from s2dhm_ros.mapping.builder import build_map

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "strecha"
FIXTURE = Path(__file__).resolve().parent / "data"
REFERENCES, QUERY = (2, 3, 5, 6), 4  # fountain-P11 views of the fixture map


@pytest.fixture(scope="module")
def fountain():
    if not (DATA / "fountain-P11").is_dir():
        pytest.skip(f"real test data not found at {DATA} (see ../shared/data/README.md)")
    return read_strecha_scene(DATA / "fountain-P11")


@pytest.fixture(scope="module")
def hypercolumns(fountain) -> np.ndarray:
    """(10880, 256) unit dense_sift hypercolumns of one real image (every cell of its 85 x 128 grid)."""
    hc = create_extractor(FeaturesConfig()).extract(fountain[QUERY].load()).hypercolumns
    return hc.reshape(hc.shape[0], -1).T.numpy()


@pytest.fixture(scope="module")
def float16_map(fountain) -> SparseMap:
    """A map of four fountain-P11 views, its descriptors stored as they are (float16)."""
    storage = MapStorageConfig(descriptor_codec="float16", descriptor_dim=0, colmap_model=False)
    config = MapBuilderConfig(max_keypoints=1000, storage=storage)
    return build_map([fountain[i] for i in REFERENCES], config, progress=False)[0]


# codec, PCA dimensions, sub-quantizers -> bounds on the round trip: least cosine to the original over all
# descriptors, mean cosine. Measured on these 10,880 hypercolumns (min / mean): float16 1.0000 / 1.0000, int8
# 0.9981 / 1.0000, int8 of 128 PCA dimensions 0.9559 / 0.9807, pq M = 64 0.9482 / 0.9759, pq M = 32 0.8725 / 0.9382.
SLOW = pytest.mark.slow  # product quantizer training: tens of seconds on a loaded machine
ROUND_TRIP = [
    (("float16", 0, 64), 0.9999, 0.9999),
    (("int8", 0, 64), 0.99, 0.999),
    (("int8", 128, 64), 0.93, 0.97),
    pytest.param(("pq", 0, 64), 0.93, 0.965, marks=SLOW),
    pytest.param(("pq", 0, 32), 0.85, 0.93, marks=SLOW),
]


@pytest.mark.parametrize("codec, min_cosine, mean_cosine", ROUND_TRIP,
                         ids=["float16-d0", "int8-d0", "int8-d128", "pq-d0-M64", "pq-d0-M32"])
def test_round_trip_error_on_real_hypercolumns(hypercolumns, codec, min_cosine, mean_cosine):
    """Every decoded descriptor is a unit vector close to its original; the codec read back from its arrays
    decodes the same."""
    kind, dim, subquantizers = codec
    fitted = DescriptorCodec.fit(hypercolumns, kind, dim, subquantizers)
    codes = fitted.encode(hypercolumns)
    assert codes.dtype == fitted.code_dtype and codes.shape == (len(hypercolumns), fitted.code_dim)
    decoded = fitted.decode(codes)
    cosine = np.sum(decoded * hypercolumns, axis=1)
    print(f"{kind} d={dim} M={subquantizers}: cosine min {cosine.min():.4f} mean {cosine.mean():.4f}")
    np.testing.assert_allclose(np.linalg.norm(decoded, axis=1), 1.0, atol=1e-5)
    assert cosine.min() >= min_cosine and cosine.mean() >= mean_cosine
    again = DescriptorCodec.from_arrays(fitted.to_arrays())
    np.testing.assert_array_equal(again.decode(codes), decoded)


STORED = [("int8", 128, 64),  # the default
          pytest.param(("int8", 0, 64), marks=SLOW),
          pytest.param(("pq", 0, 64), marks=SLOW)]


@pytest.mark.parametrize("codec", STORED, ids=lambda c: f"{c[0]}-d{c[1]}-M{c[2]}")
def test_map_stored_with_each_codec_reopens_and_localizes(float16_map, fountain, tmp_path, codec):
    """The codes on disk take the codec's bytes per keypoint; the reopened map decodes exactly what the in-memory
    map of the build does, and localizes the held-out view."""
    kind, dim, subquantizers = codec
    storage = dataclasses.replace(float16_map.storage, descriptor_codec=kind, descriptor_dim=dim,
                                  pq_subquantizers=subquantizers)
    in_memory = SparseMap(**_fields(float16_map), storage=storage)
    reopened, mb_per_reference = stored_and_reopened(in_memory, tmp_path / "map")
    assert reopened.storage == dataclasses.replace(storage, colmap_model=False)
    P, C = len(reopened.keypoints), float16_map.descriptor_dim
    bytes_per_keypoint = {"int8": dim or C, "pq": subquantizers}[kind]
    assert reopened.descriptors.nbytes == P * bytes_per_keypoint and reopened.descriptor_dim == C
    float16_mb = stored_and_reopened(float16_map, tmp_path / "float16")[1]
    codec_mb = (tmp_path / "map" / "descriptor_codec.npz").stat().st_size / 1e6 / reopened.num_references
    saved = (2 * C - bytes_per_keypoint) * P / 1e6 / reopened.num_references
    assert mb_per_reference == pytest.approx(float16_mb - saved + codec_mb, abs=0.002)
    rows = reopened.reference_rows([0, 3])
    np.testing.assert_array_equal(reopened.local_descriptors(rows), in_memory.local_descriptors(rows))
    query = fountain[QUERY]
    result = Localizer(reopened).localize(query.load(), query.camera)
    dt, dr = pose_error(result.cam_from_world, query.cam_from_world)
    assert result.success and dt < 0.25 and dr < 2.0  # the benchmark's finest class (0.25 m, 2 deg)


def test_map_written_before_the_codecs_opens_and_localizes_the_same(fountain, tmp_path):
    """test/data/pca_float16_map was written by the code before the codecs (descriptor_pca.npz, PCA to 32 dimensions
    in float16); it opens, localizes its query to the pose recorded then, and re-saves in the current layout."""
    expected = json.loads((FIXTURE / "pca_float16_map.expected.json").read_text())
    old = SparseMap.load(FIXTURE / "pca_float16_map")
    assert old.descriptor_codec.kind == "float16" and old.storage.descriptor_dim == 32
    query = fountain[QUERY]
    assert query.name == expected["query"]
    result = Localizer(old).localize(query.load(), query.camera)
    then = PoseTable.from_qvec_tvec(np.array([expected["cam_from_world_qvec_tvec"]]))[0]
    dt, dr = pose_error(result.cam_from_world, then)
    assert dt < 1e-6 and dr < 1e-4 and result.num_inliers == expected["num_inliers"]
    resaved = SparseMap.load(old.save(tmp_path / "map"))
    assert (tmp_path / "map" / "descriptor_codec.npz").is_file()
    rows = old.reference_rows([0, 1, 2, 3])
    np.testing.assert_array_equal(resaved.local_descriptors(rows), old.local_descriptors(rows))


def test_storage_options_override_only_what_is_given():
    parser = argparse.ArgumentParser()
    add_storage_options(parser)
    base = MapStorageConfig(descriptor_dim=128, checksum_block_bytes=4096)
    given = storage_from_options(base, parser.parse_args(["--descriptor-codec", "pq", "--pq-subquantizers", "32"]))
    assert given == dataclasses.replace(base, descriptor_codec="pq", pq_subquantizers=32)
    assert storage_from_options(base, parser.parse_args([])) == base


def _fields(sparse_map: SparseMap) -> dict:
    """Constructor arguments of `sparse_map` but its storage and codec: the same map, to be stored another way."""
    return {f.name: getattr(sparse_map, f.name) for f in dataclasses.fields(SparseMap)
            if f.init and f.name not in ("descriptor_codec", "storage", "path")}


@pytest.mark.parametrize("kind, dim", [("int8", 8), ("float16", 8), ("pq", 8), ("float16", 0)])
def test_builder_fits_the_codec_on_sampled_rows_as_the_map_would_on_all(monkeypatch, kind, dim):
    """The map builder never holds all descriptors: it reads `fit_rows` reference by reference and encodes each
    reference as it goes. Its codec and codes must be those of fitting on the whole (P, C) array (with a sample
    smaller than P, so that the sampling path runs)."""
    from s2dhm_ros import descriptor_codec
    from s2dhm_ros.map_format import fit_descriptor_codec
    from s2dhm_ros.mapping.builder import _fit_codec
    from s2dhm_ros.mapping.feature_cache import FeatureStore, ReferenceFeatures

    monkeypatch.setattr(descriptor_codec, "FIT_SAMPLES", 300)
    rng = np.random.default_rng(0)
    store = FeatureStore([f"r{i}" for i in range(12)], cache=None)
    for i in range(12):
        sparse = rng.standard_normal((80, 16)).astype(np.float16)
        store.add(i, ReferenceFeatures(np.zeros((80, 2)), np.zeros((80, 4), np.float32), sparse, np.zeros(3)))
    counts = rng.integers(0, 60, 12)
    keypoint = np.concatenate([np.sort(rng.choice(80, c, replace=False)) for c in counts])
    offsets = np.concatenate([[0], np.cumsum(counts)])
    everything = np.concatenate([store.get(r, "sparse_hypercolumns")[keypoint[offsets[r]:offsets[r + 1]]]
                                 for r in range(12)])
    assert len(everything) > 300
    storage = MapStorageConfig(descriptor_dim=dim, descriptor_codec=kind, pq_subquantizers=4)
    fitted, expected = _fit_codec(store, keypoint, offsets, storage), fit_descriptor_codec(storage, everything)
    if expected is None:
        assert fitted is None
        return
    for name, value in expected.to_arrays().items():
        assert np.array_equal(fitted.to_arrays()[name], value), name
    assert np.array_equal(fitted.encode(everything), expected.encode(everything))
