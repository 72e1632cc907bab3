"""The feature grid <-> pixel mapping is exact (base.py documents the convention)."""
import numpy as np
import pytest
import torch

from s2dhm_ros.config import FeaturesConfig, MatcherConfig
from s2dhm_ros.features import create_extractor
from s2dhm_ros.matching import match_sparse_to_dense


def _texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    import cv2
    base = rng.integers(0, 255, size=(h // 8, w // 8, 3), dtype=np.uint8)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img.astype(int) + rng.integers(-40, 40, size=img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size,shift", [((384, 512), (8, 12)), ((768, 1024), (16, 24))])
def test_shifted_image_matches_land_exactly_on_the_shift(size, shift):
    """A query shifted by a whole number of cells: every confident match is at keypoint + shift."""
    h, w = size
    dx, dy = shift
    reference = _texture(h, w)
    query = np.zeros_like(reference)  # the same content, dx and dy pixels further right and down
    query[dy:, dx:] = reference[: h - dy, : w - dx]
    query[:dy] = 127
    query[:, :dx] = 127
    extractor = create_extractor(FeaturesConfig(max_image_size=512))
    ref_features = extractor.extract(reference)
    query_features = extractor.extract(query)
    rows, cols = torch.meshgrid(torch.arange(8, ref_features.grid_shape[0] - 8, 5),
                                torch.arange(8, ref_features.grid_shape[1] - 8, 5), indexing="ij")
    keypoints = ref_features.grid_to_pixels(rows.reshape(-1), cols.reshape(-1)).numpy()
    descriptors = ref_features.sample(keypoints)
    m = match_sparse_to_dense(descriptors, query_features.hypercolumns, MatcherConfig(subcell_refinement=False))
    xy = query_features.grid_to_pixels(m.rows, m.cols).numpy()
    expected = keypoints + np.array([dx, dy])
    exact = np.all(np.abs(xy - expected) < 1e-9, axis=1)
    assert exact[m.keep.numpy()].mean() > 0.95
    assert m.keep.float().mean() > 0.5


def test_grid_to_pixels_formula_and_inverse():
    extractor = create_extractor(FeaturesConfig(max_image_size=512))
    f = extractor.extract(_texture(600, 1000))  # resized to 512 x 307: per-axis scales differ slightly
    sx, sy = f.scale
    assert (sx, sy) == (512 / 1000, 307 / 600)
    xy = f.grid_to_pixels(torch.tensor([0, 3]), torch.tensor([0, 10])).numpy()
    np.testing.assert_allclose(xy, [[0.5 * 4 / sx, 0.5 * 4 / sy], [10.5 * 4 / sx, 3.5 * 4 / sy]])
    np.testing.assert_allclose(f.pixels_to_grid(xy), [[0, 0], [10, 3]], atol=1e-12)
    # sampling at a cell centre returns that cell's descriptor
    np.testing.assert_allclose(f.sample(xy[1:]).numpy()[0], f.hypercolumns[:, 3, 10].numpy(), atol=1e-5)


@pytest.mark.parametrize("backbone,min_side", [("xfeat", 16), ("vgg16", 16)])
def test_colour_backbones_refuse_gray_and_too_small_images(backbone, min_side):
    """base.resize_rgb / grid_size: xfeat needs 2 cells of 8 px, VGG16 4 cells of 4 px (conv5_3 at stride 16)."""
    if backbone == "vgg16":
        from s2dhm_ros.features.hypercolumns import VGGHypercolumnExtractor
        extractor = VGGHypercolumnExtractor(allow_random_init=True, device="cpu")
    else:
        extractor = create_extractor(FeaturesConfig(backbone=backbone, device="cpu"))
    image = _texture(min_side, 96)
    assert extractor.extract(image).grid_shape == (min_side // extractor.stride, 96 // extractor.stride)
    with pytest.raises(ValueError, match=r"expected an RGB image \(H, W, 3\), got shape \(16, 96\)"):
        extractor.extract(image[..., 0])
    with pytest.raises(ValueError, match=rf"96x{min_side - 1} px is too small"):
        extractor.extract(image[: min_side - 1])
