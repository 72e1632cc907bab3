"""--descriptor-dim, --descriptor-codec and --pq-subquantizers: the map storage options shared by the commands that
build maps (build-map, leave-one-out, benchmark map-open); each overrides its MapStorageConfig field."""
from __future__ import annotations

import argparse
import dataclasses

from ..config import MapStorageConfig
from ..descriptor_codec import CODECS

OPTIONS = ("descriptor_dim", "descriptor_codec", "pq_subquantizers")


def add_storage_options(parser: argparse.ArgumentParser, defaults: str = "the builder config's") -> None:
    """`defaults`: where the values come from when an option is not given (for the help)."""
    group = parser.add_argument_group("map storage (docs/map-format.md)")
    group.add_argument("--descriptor-dim", type=int,
                       help=f"storage.descriptor_dim: PCA dimensions of the local descriptors, 0 keeps all C "
                            f"(default: {defaults})")
    group.add_argument("--descriptor-codec", choices=CODECS,
                       help=f"storage.descriptor_codec: how local descriptors are stored (default: {defaults})")
    group.add_argument("--pq-subquantizers", type=int,
                       help=f"storage.pq_subquantizers: bytes per keypoint of the pq codec, must divide the "
                            f"descriptor dimension (default: {defaults})")


def storage_from_options(storage: MapStorageConfig, args: argparse.Namespace) -> MapStorageConfig:
    """`storage` with the options that were given."""
    given = {name: getattr(args, name) for name in OPTIONS if getattr(args, name) is not None}
    return dataclasses.replace(storage, **given)
