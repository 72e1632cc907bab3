"""Dense backbones (query hypercolumns + global descriptors) and keypoint detectors (map building)."""
from __future__ import annotations

from ..config import FeaturesConfig
from .base import DenseExtractor, DenseFeatures, resize_max

LEARNED_BACKBONES = ("xfeat", "disk", "aliked")  # weights from registry packages (learned.py)
BACKBONES = ("dense_sift", "vgg16", *LEARNED_BACKBONES)


def create_extractor(config: FeaturesConfig) -> DenseExtractor:
    """The dense backbone named by `config.backbone`."""
    if config.backbone == "dense_sift":
        from .dense_sift import DenseSiftExtractor
        return DenseSiftExtractor(config)
    if config.backbone == "vgg16":
        from .hypercolumns import VGGHypercolumnExtractor
        return VGGHypercolumnExtractor(config)
    if config.backbone in LEARNED_BACKBONES:
        from .learned import LearnedDenseExtractor
        return LearnedDenseExtractor(config)
    raise ValueError(f"unknown backbone {config.backbone!r}; choose one of {BACKBONES}")


__all__ = ["BACKBONES", "DenseExtractor", "DenseFeatures", "create_extractor", "resize_max"]
