"""The parameters each node declares, without rclpy: the nodes declare them, launch files type what they pass."""
from __future__ import annotations

import dataclasses

from ..config import LocalizerConfig, MapBuilderConfig
from ..runtime.node_config import LocalizerNodeConfig, MapBuilderNodeConfig
from .parameters import ParameterSpec, check_unique, parameter_specs


def localizer_parameter_specs() -> list[ParameterSpec]:
    """The library's settings (`section.field`, applied by ~/reload_map too) and the node's own (read at start)."""
    return check_unique(parameter_specs(LocalizerConfig())
                        + [s if s.name == "map" else dataclasses.replace(s, read_only=True)
                           for s in parameter_specs(LocalizerNodeConfig())])


def map_builder_parameter_specs() -> list[ParameterSpec]:
    """config/map_builder.yaml's fields (MapBuilderConfig) plus bag, output and source.* (all read at start)."""
    return check_unique([dataclasses.replace(s, read_only=True)
                         for s in parameter_specs(MapBuilderConfig()) + parameter_specs(MapBuilderNodeConfig())])
