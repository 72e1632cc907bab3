"""SuperPoint: the superpoint_v1.pth layout, clear loader errors, and detection geometry."""
import numpy as np
import pytest
import torch

from s2dhm_ros.features.base import resize_max
from s2dhm_ros.features.superpoint import SuperPointDetector, SuperPointNet, load_superpoint

V1_KEYS = {f"{name}.{p}" for name in ("conv1a", "conv1b", "conv2a", "conv2b", "conv3a", "conv3b", "conv4a",
                                       "conv4b", "convPa", "convPb", "convDa", "convDb") for p in ("weight", "bias")}


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return SuperPointNet().eval()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, net):
    path = tmp_path_factory.mktemp("sp") / "superpoint_v1.pth"
    torch.save(net.state_dict(), path)  # the published file is a plain state dict
    return path


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 256, (8, 10, 3)), np.ones((8, 8, 1)))  # blocks give corners
    return np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255).astype(np.uint8)  # (64, 80, 3)


def test_published_layout_loads_to_identical_outputs(net, weights_file):
    assert set(net.state_dict()) == V1_KEYS
    loaded = load_superpoint(weights_file)
    x = torch.rand(1, 1, 64, 80)
    with torch.no_grad():
        (s0, d0), (s1, d1) = net(x), loaded(x)
    assert s0.shape == (1, 65, 8, 10) and d0.shape == (1, 256, 8, 10)
    torch.testing.assert_close(s1, s0)
    torch.testing.assert_close(d1, d0)


def test_wrong_or_truncated_file_is_a_clear_error(tmp_path, net, weights_file):
    state = dict(net.state_dict())
    del state["convDb.bias"]
    state["convPb.weight"] = torch.zeros(64, 256, 1, 1)
    state["conv5a.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError) as error:
        load_superpoint(bad)
    for text in ("missing keys [convDb.bias]", "unexpected keys [conv5a.weight]",
                 "convPb.weight: (64, 256, 1, 1) instead of (65, 256, 1, 1)"):
        assert text in str(error.value)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(weights_file.read_bytes()[:100_000])
    with pytest.raises(ValueError, match="truncated.pth"):
        load_superpoint(truncated)


def test_detections_inside_sorted_and_top_k(net, image):
    full = SuperPointDetector(net, max_keypoints=10_000, device="cpu").extract(image)
    assert len(full.xy) > 5 and full.descriptors.shape == (len(full.xy), 256)
    assert full.xy.dtype == np.float64
    assert np.all(full.xy >= 4.5) and np.all(full.xy[:, 0] <= 80 - 4.5) and np.all(full.xy[:, 1] <= 64 - 4.5)
    assert np.all(np.diff(full.scores) <= 0) and np.all(full.scores > 0.005)
    np.testing.assert_allclose(np.linalg.norm(full.descriptors, axis=1), 1.0, rtol=1e-5)
    # NMS radius 4: no two keypoints within 4 px (Chebyshev) of each other.
    d = np.abs(full.xy[:, None] - full.xy[None]).max(-1) + np.eye(len(full.xy)) * 99
    assert d.min() > 4
    top = SuperPointDetector(net, max_keypoints=5, device="cpu")
    xy, desc = top.detect(image)
    np.testing.assert_array_equal(xy, full.xy[:5])
    np.testing.assert_allclose(desc, full.descriptors[:5], atol=1e-6)


def planted_net(row: int, col: int) -> SuperPointNet:
    """All weights zero except the detector bias, which makes bin (row, col) of every 8x8 cell win."""
    model = SuperPointNet().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.convPb.bias[row * 8 + col] = 12.0
    return model


def test_keypoint_pixels_follow_colmap_convention():
    image = np.zeros((48, 64, 3), np.uint8)
    features = SuperPointDetector(planted_net(3, 5), device="cpu").extract(image)
    # Bin (3, 5) of cell (i, j) is pixel row 8i + 3, column 8j + 5; its COLMAP centre adds 0.5.
    expected = {(8 * j + 5 + 0.5, 8 * i + 3 + 0.5) for i in range(6) for j in range(8)
                if 4 <= 8 * i + 3 < 44 and 4 <= 8 * j + 5 < 60}
    assert {tuple(p) for p in features.xy} == expected


def test_keypoints_are_in_original_image_pixels_after_resizing():
    image = np.zeros((96, 128, 3), np.uint8)
    big = SuperPointDetector(planted_net(3, 5), max_image_size=64, device="cpu").extract(image)
    resized, (sx, sy) = resize_max(image, 64)
    small = SuperPointDetector(planted_net(3, 5), device="cpu").extract(resized)
    assert len(big.xy) == len(small.xy) > 0
    np.testing.assert_allclose(np.sort(big.xy * [sx, sy], axis=0), np.sort(small.xy, axis=0))
