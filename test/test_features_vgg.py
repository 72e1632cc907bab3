"""VGG16 trunk, hypercolumn taps, NetVLAD and the VGG hypercolumn extractor (random weights, tiny images)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from s2dhm_ros.config import FeaturesConfig
from s2dhm_ros.features import create_extractor, resize_max
from s2dhm_ros.features.hypercolumns import VGGHypercolumnExtractor, hypercolumns_from_taps
from s2dhm_ros.features.netvlad import NetVLAD
from s2dhm_ros.features.vgg16 import (CONV_INDICES, HYPERCOLUMN_TAPS, TAP_CHANNELS, TAP_STRIDES,
                                      forward_taps, vgg16_trunk)


@pytest.fixture(scope="module")
def extractor():
    return VGGHypercolumnExtractor(max_image_size=512, device="cpu", allow_random_init=True, seed=3)


def test_trunk_has_torchvision_indices():
    trunk = vgg16_trunk()
    assert len(trunk) == 29  # features[:-2]: ends at conv5_3, before its ReLU
    assert [i for i, m in enumerate(trunk) if isinstance(m, nn.Conv2d)] == list(CONV_INDICES)
    assert isinstance(trunk[28], nn.Conv2d) and trunk[28].out_channels == 512
    assert {f"{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")} == set(trunk.state_dict())


def test_taps_are_inputs_of_the_s2dhm_layers():
    # S2DHM's hypercolumn_layers = [14, 17, 21, 24, 28]: inputs of conv3_3, conv4_1, conv4_3, conv5_1, conv5_3.
    assert HYPERCOLUMN_TAPS == (14, 17, 21, 24, 28)
    torch.manual_seed(0)
    trunk = vgg16_trunk().eval()
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        taps, out = forward_taps(trunk, x)
        expected = ((14, nn.ReLU, 256, 4), (17, nn.MaxPool2d, 256, 8), (21, nn.ReLU, 512, 8),
                    (24, nn.MaxPool2d, 512, 16), (28, nn.ReLU, 512, 16))
        for tap, (index, producer, channels, stride) in zip(taps, expected, strict=True):
            assert isinstance(trunk[index - 1], producer) and isinstance(trunk[index], nn.Conv2d)
            assert tap.shape == (1, channels, 64 // stride, 80 // stride)
            # The input of module `index` is the output of modules 0 .. index-1.
            torch.testing.assert_close(tap, trunk[:index](x.clone()))
        torch.testing.assert_close(out, trunk(x.clone()))
    assert [t.shape[1] for t in taps] == list(TAP_CHANNELS) and sum(TAP_CHANNELS) == 2048
    assert TAP_STRIDES == (4, 8, 8, 16, 16)
    assert (out < 0).any()  # conv5_3 without ReLU, as NetVLAD expects


def test_hypercolumns_upsample_with_aligned_corners():
    torch.manual_seed(1)
    taps = [torch.randn(1, c, 16 // (s // 4), 20 // (s // 4)) for c, s in zip(TAP_CHANNELS, TAP_STRIDES)]
    hyper = hypercolumns_from_taps(taps)
    assert hyper.shape == (2048, 16, 20)
    torch.testing.assert_close(hyper.norm(dim=0), torch.ones(16, 20))
    for i, j, src in ((0, 0, lambda t: t[0, :, 0, 0]), (15, 19, lambda t: t[0, :, -1, -1])):
        expected = F.normalize(torch.cat([src(t) for t in taps]), dim=0)
        torch.testing.assert_close(hyper[:, i, j], expected)  # align_corners=True keeps corners exact


def naive_vlad(pool: NetVLAD, x: torch.Tensor) -> torch.Tensor:
    """Per-cluster loop, as the S2DHM reference code writes it."""
    x = F.normalize(x, dim=1)[0].flatten(1)  # (D, N)
    a = F.softmax(torch.einsum("kd,dn->kn", pool.conv.weight[:, :, 0, 0], x), dim=0)
    vlad = torch.stack([(a[k] * (x - pool.centroids[k][:, None])).sum(1) for k in range(pool.num_clusters)])
    return F.normalize(F.normalize(vlad, dim=1).flatten(), dim=0)


def test_netvlad_matches_reference_and_is_unit_norm():
    torch.manual_seed(2)
    pool = NetVLAD(64, 512)
    x = torch.randn(1, 512, 4, 5)
    with torch.no_grad():
        v = pool(x)[0]
        assert v.shape == (32768,)
        torch.testing.assert_close(v.norm(), torch.tensor(1.0))
        torch.testing.assert_close(v, naive_vlad(pool, x), atol=1e-5, rtol=1e-4)


def test_extractor_output_shapes_and_grid(extractor):
    image = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    feats = extractor.extract(image)
    assert feats.hypercolumns.shape == (2048, 16, 20) and feats.stride == 4
    torch.testing.assert_close(feats.hypercolumns.norm(dim=0), torch.ones(16, 20))
    assert feats.global_descriptor.shape == (32768,)
    torch.testing.assert_close(feats.global_descriptor.norm(), torch.tensor(1.0))
    assert feats.scale == (1.0, 1.0)


def test_extractor_resizes_like_base(extractor):
    image = np.random.default_rng(1).integers(0, 256, (150, 190, 3), dtype=np.uint8)
    small = VGGHypercolumnExtractor(max_image_size=95, device="cpu", allow_random_init=True)
    feats = small.extract(image)
    resized, scale = resize_max(image, 95)
    assert feats.scale == scale
    assert feats.grid_shape == (resized.shape[0] // 4, resized.shape[1] // 4)
    # The same network on the pre-resized image gives the same features.
    again = small.extract(resized)
    torch.testing.assert_close(again.hypercolumns, feats.hypercolumns)


def test_missing_weights_is_a_clear_error():
    with pytest.raises(ValueError, match="download-weights"):
        VGGHypercolumnExtractor(FeaturesConfig(backbone="vgg16"))
    with pytest.raises(ValueError, match="download-weights"):
        create_extractor(FeaturesConfig(backbone="vgg16"))


def test_seeded_init_is_reproducible_and_fingerprinted(extractor):
    assert extractor.fingerprint() == "vgg16:seeded:3"
    other = VGGHypercolumnExtractor(device="cpu", allow_random_init=True, seed=3)
    torch.testing.assert_close(other.model.encoder[0].weight, extractor.model.encoder[0].weight)
