"""NetVLAD retraining (`s2dhm train-netvlad`, the paper's NV-r) on the synthetic street bags.

From a seeded random VGG16-NetVLAD, a few epochs on a day and a night traversal of the street at 128 px: the loss
goes down, the recall@1 of held-out night queries (another night drive: other positions and noise) among the day
images does not get worse, and the checkpoint, in the official S2DHM layout, is what the localizer's
VGGHypercolumnExtractor then computes its global descriptors with.
"""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from s2dhm_ros.cli import train_commands
from s2dhm_ros.config import FeaturesConfig
from s2dhm_ros.features.hypercolumns import VGGHypercolumnExtractor
from s2dhm_ros.features.netvlad import VGG16NetVLAD
from s2dhm_ros.features.weights import load_s2dhm_checkpoint, read_torch_file
from s2dhm_ros.geometry import Pose
from s2dhm_ros.io.bag_source import BagSourceConfig, frames_from_bag
from s2dhm_ros.synthetic.street_bag import make_street_bags
from s2dhm_ros.training.netvlad_training import recall_at_1, seeded_model, to_imagenet_normalisation
from s2dhm_ros.training.tuples import TupleConfig, make_tuples

IMAGE_SIZE = 128
KEEP_ALL = ["--keyframe-min-distance-m", "0", "--keyframe-min-angle-deg", "0"]


def _train_netvlad(argv: list[str]) -> int:
    """`s2dhm train-netvlad ARGV`, through the command's own parser (independent of the CLI's module list)."""
    parser = argparse.ArgumentParser()
    train_commands.register(parser.add_subparsers())
    args = parser.parse_args(["train-netvlad", *argv])
    return args.func(args)


def _pose_at(x: float, yaw_deg: float = 0.0) -> Pose:
    """A camera at (x, 0, 0) looking along +z turned by yaw about the y axis (cam_from_world)."""
    a = np.radians(yaw_deg)
    world_from_cam = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return Pose(world_from_cam, [x, 0, 0]).inverse()


def test_tuples_by_distance_and_angle():
    refs = [_pose_at(0), _pose_at(3), _pose_at(4, yaw_deg=90), _pose_at(8), _pose_at(30)]
    tuples = make_tuples(refs, refs, TupleConfig(positive_distance_m=5, positive_angle_deg=45,
                                                 negative_distance_m=20), same_set=True)
    assert tuples.positives[0].tolist() == [1]  # 2 looks sideways, 3 is too far; not itself
    assert tuples.negatives[0].tolist() == [4]  # 3 (8 m) is neither positive nor negative
    assert tuples.usable().tolist() == [0, 1, 3]  # 2 looks sideways: no positive; 4: none within 5 m
    with pytest.raises(ValueError, match="negative_distance_m"):
        make_tuples(refs, refs, TupleConfig(positive_distance_m=5, negative_distance_m=2))


def test_pitts_normalisation_folded_into_conv1():
    """Weights trained on `rgb - average` (std 1) give the same conv1_1 output under ImageNet normalisation."""
    model = VGG16NetVLAD(whitening_dim=8)
    model.mean, model.std = torch.tensor([120.0, 110.0, 100.0]), torch.ones(3)
    rgb = torch.rand(1, 3, 20, 20) * 255
    before = model.encoder[0]((rgb - model.mean[:, None, None]) / model.std[:, None, None])
    model = to_imagenet_normalisation(model)
    after = model.encoder[0]((rgb - model.mean[:, None, None]) / model.std[:, None, None])
    assert model.whitening is None
    torch.testing.assert_close(after[..., 1:-1, 1:-1], before[..., 1:-1, 1:-1], rtol=1e-4, atol=1e-3)


@pytest.mark.slow  # renders two street bags and trains VGG16-NetVLAD for 3 epochs
def test_train_netvlad_command(tmp_path):
    street = make_street_bags(tmp_path / "train", num_frames=30, num_night_frames=15, image_size=(128, 96))
    # Same seed and length: the same street; the night drive samples other positions with other noise.
    held_out = make_street_bags(tmp_path / "held_out", num_frames=30, num_night_frames=10, image_size=(128, 96))
    out = tmp_path / "nv-r.pth.tar"
    assert _train_netvlad(["--bag", str(street.day.bag), "--bag", str(street.night.bag),
                 "--held-out-bag", str(held_out.night.bag),
                 *KEEP_ALL, "--out", str(out), "--epochs", "3", "--image-size", str(IMAGE_SIZE),
                 "--positive-distance-m", "5", "--negative-distance-m", "10", "--num-negatives", "5",
                 "--queries-per-epoch", "20", "--learning-rate", "1e-5", "--device", "cpu", "--seed", "0"]) == 0
    info = read_torch_file(out)
    losses = info["losses"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert info["recall_after"] >= info["recall_before"]
    assert not list(out.parent.glob(".*partial"))  # written atomically

    model = load_s2dhm_checkpoint(out)  # the official layout: encoder.<i>.*, pool.conv.weight, pool.centroids
    trained = model.state_dict()["encoder.28.weight"]
    assert not torch.equal(trained, seeded_model(0).state_dict()["encoder.28.weight"])  # conv5_3 trained
    torch.testing.assert_close(model.state_dict()["encoder.0.weight"],
                               seeded_model(0).state_dict()["encoder.0.weight"])  # conv1_1 frozen

    # The localizer's extractor, configured as a user would, retrieves with the trained descriptors.
    extractor = VGGHypercolumnExtractor(FeaturesConfig(backbone="vgg16", weights=str(out),
                                                       max_image_size=IMAGE_SIZE, device="cpu"))
    source = BagSourceConfig(keyframe_min_distance_m=0.0, keyframe_min_angle_deg=0.0)
    day, _ = frames_from_bag(street.day.bag, source)
    night, _ = frames_from_bag(held_out.night.bag, source)
    day_d = torch.stack([extractor.extract(f.load()).global_descriptor for f in day])
    night_d = torch.stack([extractor.extract(f.load()).global_descriptor for f in night])
    recall = recall_at_1(night_d, day_d, night, day, distance_m=5.0)
    assert recall == pytest.approx(info["recall_after"], abs=1.5 / len(night))  # float16 cache of frozen layers
