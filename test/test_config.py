"""Configs: paper defaults, YAML (plain or ROS 2 parameter files), unknown keys rejected."""
import pytest

from s2dhm_ros.config import LocalizerConfig, MapBuilderConfig, flatten, load_config, to_dict, unflatten


def test_paper_defaults():
    c = LocalizerConfig()
    assert (c.retrieval.num_references, c.matcher.ratio_alpha, c.matcher.ratio_fraction) == (15, 0.9, 0.006)
    assert (c.pose.ransac_max_error_cells, c.pose.min_inliers, c.features.max_image_size) == (1.0, 15, 512)
    assert c.pose.ransac_max_error_px is None  # 12 px on RobotCar = 1.5 cells; see PoseConfig
    assert c.retrieval.pca_dim == 1024 == MapBuilderConfig().pca_dim


def test_yaml_plain_and_ros_parameter_file(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text("matcher:\n  ratio_fraction: 0.12\nretrieval:\n  num_references: 10\n")
    c = load_config(LocalizerConfig, plain)
    assert c.matcher.ratio_fraction == 0.12 and c.retrieval.num_references == 10 and c.matcher.ratio_alpha == 0.9
    ros = tmp_path / "ros.yaml"
    ros.write_text("localizer:\n  ros__parameters:\n    pose:\n      min_inliers: 30\n")
    assert load_config(LocalizerConfig, ros, node_name="localizer").pose.min_inliers == 30


def test_unknown_key_is_an_error(tmp_path):
    f = tmp_path / "typo.yaml"
    f.write_text("matcher:\n  ratio_alfa: 0.8\n")
    with pytest.raises(ValueError, match=r"ratio_alfa.*matcher"):
        load_config(LocalizerConfig, f)


def test_flatten_round_trip():
    d = to_dict(LocalizerConfig())
    flat = flatten(d)
    assert flat["matcher.ratio_alpha"] == 0.9 and unflatten(flat) == d


def test_covariance_noise_is_the_backbones_calibration_unless_set():
    from s2dhm_ros.config import NOISE_CELLS_BY_BACKBONE, FeaturesConfig, PoseConfig
    from s2dhm_ros.features import BACKBONES
    assert set(NOISE_CELLS_BY_BACKBONE) == set(BACKBONES)  # every backbone has one
    sift, xfeat = FeaturesConfig(), FeaturesConfig(backbone="xfeat")
    assert PoseConfig().noise_cells(sift, 3072) == 1.75  # docs/pose-prior.md, "Calibration"
    assert PoseConfig().noise_cells(xfeat, 3072) == NOISE_CELLS_BY_BACKBONE["xfeat"] != 1.75
    assert PoseConfig(covariance_noise_cells=2.5).noise_cells(xfeat, 3072) == 2.5
    # processed at 1024 px, cells are half as wide in original pixels: twice as many keep the noise in pixels
    assert PoseConfig().noise_cells(FeaturesConfig(backbone="xfeat", max_image_size=1024), 3072) == pytest.approx(1.64)
    # a 640 px camera is shrunk to 512 px by default and not at all with 1024: 640 / 512 as many cells
    assert PoseConfig().noise_cells(FeaturesConfig(max_image_size=1024), 640) == pytest.approx(1.75 * 1.25)
    assert PoseConfig().noise_cells(FeaturesConfig(max_image_size=1024), 400) == 1.75  # never resized
