"""The torch dense SIFT (features/sift_grid.py) against OpenCV's SIFT.compute on real Strecha crops, and the
symmetries that a wrong orientation or spatial binning would break."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from s2dhm_ros.config import FeaturesConfig
from s2dhm_ros.features import create_extractor
from s2dhm_ros.features.base import resize_max
from s2dhm_ros.features.sift_grid import root_sift_grid

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "strecha"
STRIDE, SIZES = 4, (8.0, 16.0)


def strecha_gray(scene: str, view: str) -> np.ndarray:
    """The view shrunk to 512 px as the extractor does, in grey levels."""
    path = DATA / scene / "images" / f"{view}.jpg"
    if not path.is_file():
        pytest.skip(f"real test data not found at {path} (see ../shared/data/README.md)")
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(resize_max(rgb, 512)[0], cv2.COLOR_RGB2GRAY)


def opencv_root_sift(gray: np.ndarray, size: float) -> np.ndarray:
    """What the replaced OpenCV path computed: SIFT.compute at the cell centres, then RootSIFT. (h, w, 128)."""
    h, w = gray.shape[0] // STRIDE, gray.shape[1] // STRIDE
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    keypoints = [cv2.KeyPoint(float(x), float(y), size, 0.0)
                 for x, y in zip(((xs + 0.5) * STRIDE - 0.5).ravel(), ((ys + 0.5) * STRIDE - 0.5).ravel())]
    _, desc = cv2.SIFT_create().compute(gray, keypoints)
    assert len(desc) == h * w
    return np.sqrt(desc / np.maximum(desc.sum(1, keepdims=True), 1e-12)).reshape(h, w, 128)


@pytest.mark.parametrize("scene, view", [("fountain-P11", "0005"), ("entry-P10", "0004")])
@pytest.mark.parametrize("size", SIZES)
def test_agrees_with_opencv_sift_cell_for_cell(scene, view, size):
    gray = strecha_gray(scene, view)[60:260, 100:380]  # a crop, so that the image borders are exercised too
    ours = root_sift_grid(torch.from_numpy(gray), (size,), STRIDE).permute(1, 2, 0).numpy()
    theirs = opencv_root_sift(gray, size)
    assert ours.shape == theirs.shape == (50, 70, 128)
    cosine = (ours * theirs).sum(-1) / np.maximum(np.linalg.norm(ours, axis=-1) * np.linalg.norm(theirs, axis=-1),
                                                  1e-12)
    # Measured: >= 0.9989 everywhere (OpenCV rounds to 8 bits and uses a fast atan2). Half a pixel of offset,
    # a swapped axis or a flipped orientation gives far less.
    assert cosine.min() > 0.996 and np.median(cosine) > 0.9995
    assert np.abs(ours - theirs).max() < 0.03


@pytest.mark.parametrize("transform", ["rotate 90", "mirror"])
def test_rotating_or_mirroring_the_image_permutes_the_bins_exactly(transform):
    """Upright SIFT is not invariant, but on a square crop of 4k + 1 px (so that cell centres map onto cell
    centres) a 90 degree rotation moves every orientation by 2 bins and turns the 4x4 spatial bins, and a mirror
    maps orientation o to 4 - o and reverses the column bins."""
    gray = strecha_gray("fountain-P11", "0005")[100:229, 200:329]  # 129 = 4 * 32 + 1
    grid = root_sift_grid(torch.from_numpy(gray), SIZES, STRIDE).numpy().reshape(2, 4, 4, 8, 32, 32)
    if transform == "rotate 90":  # counterclockwise: pixel (r, c) -> (W - 1 - c, r), angle + 90 degrees
        changed = np.rot90(gray).copy()
        expected = np.roll(np.rot90(np.rot90(grid, axes=(4, 5)), axes=(1, 2)), 2, axis=3)
    else:  # pixel (r, c) -> (r, W - 1 - c), angle -> 180 degrees - angle
        changed = gray[:, ::-1].copy()
        expected = grid[:, :, ::-1, (4 - np.arange(8)) % 8, :, ::-1]
    result = root_sift_grid(torch.from_numpy(changed), SIZES, STRIDE).numpy().reshape(expected.shape)
    np.testing.assert_allclose(result, expected, atol=1e-4)
    assert np.abs(result - grid).max() > 0.1  # the check is not vacuous: the descriptors did change


def test_extractor_gives_centred_unit_hypercolumns_and_a_new_fingerprint():
    gray = strecha_gray("entry-P10", "0000")
    features = create_extractor(FeaturesConfig()).extract(np.repeat(gray[..., None], 3, axis=2))
    assert features.hypercolumns.shape == (256, gray.shape[0] // 4, 128) and features.stride == 4
    norms = features.hypercolumns.norm(dim=0)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    assert features.hypercolumns.mean((1, 2)).abs().max() < 0.02  # the image's mean descriptor is removed
    # the OpenCV path's fingerprint: maps built by it must be refused (test_localizer.py)
    assert create_extractor(FeaturesConfig()).fingerprint() not in {"dense_sift:9de949f02a331478"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_gives_the_cpu_descriptors():
    gray = torch.from_numpy(strecha_gray("fountain-P11", "0005"))
    torch.testing.assert_close(root_sift_grid(gray.cuda(), SIZES, STRIDE).cpu(), root_sift_grid(gray, SIZES, STRIDE),
                               atol=1e-4, rtol=0)
