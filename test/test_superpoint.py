"""SuperPoint: the superpoint_v1.pth layout, clear loader errors, detection geometry, and a map built with it."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from s2dhm_ros.config import MapBuilderConfig
from s2dhm_ros.features.base import resize_max
from s2dhm_ros.features.keypoints import create_detector
from s2dhm_ros.features.superpoint import SuperPointDetector, SuperPointNet, load_superpoint
from s2dhm_ros.geometry.triangulation import project
from s2dhm_ros.map_format import SparseMap
from s2dhm_ros.mapping.builder import build_map

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


def test_map_built_with_superpoint_keeps_its_detections_in_original_pixels(street, tmp_path, net):
    """The builder's SuperPoint path end to end: detection on a shrunk image, matching, triangulation,
    saving. Seeded weights give poor descriptors, so this checks the wiring (every map keypoint is a
    SuperPoint detection in original pixels, consistent with its 3D point), not the accuracy of the points."""
    frames = street[0]
    weights = tmp_path / "superpoint_v1.pth"
    torch.save(net.state_dict(), weights)
    config = replace(MapBuilderConfig(), detector="superpoint", superpoint_weights=str(weights),
                     detection_max_image_size=240)  # the 320x240 renderings are detected at 240x180
    _, summary = build_map(frames, config, output_dir=tmp_path / "map", progress=False)
    sparse_map = SparseMap.load(tmp_path / "map")
    assert sparse_map.metadata["builder"]["detector"] == "superpoint"
    assert summary.points3D > 20
    detector = create_detector(config)
    for r, frame in enumerate(frames):
        keypoints = sparse_map.keypoints[sparse_map.reference_slice(r)]
        detections, _ = detector.detect(frame.load())
        assert len(keypoints) > 0
        assert np.abs(keypoints[:, None] - detections[None]).max(-1).min(1).max() < 1e-6
        xy, _ = project(sparse_map.points3D[sparse_map.point_index[sparse_map.reference_slice(r)]],
                        frame.cam_from_world, frame.camera)
        assert np.linalg.norm(xy - keypoints, axis=1).max() <= config.triangulation_max_reproj_error_px + 1e-6
