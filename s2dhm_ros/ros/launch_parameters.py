"""Parameters of a node gathered from ROS 2 parameter files, for launch files.

A parameter file keyed `localizer:` only reaches a node named /localizer, not /robot1/localizer; launch files read
the files here and pass the values as a dictionary, which applies whatever the node's namespace is.

Given the node's `specs`, whole numbers for float settings become floats (`max_rate_hz: 5` -> 5.0): launch_ros
writes the dictionary to a parameter file for the node, where 5 would arrive as an INTEGER that rclpy refuses for a
parameter declared with a float default.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..config import flatten
from .parameters import ParameterSpec, as_declared


def parameters_from_files(paths: list[str | Path], node_name: str,
                          specs: list[ParameterSpec] | None = None) -> dict[str, Any]:
    """Flat `section.field` values for `node_name` from the files in order (later files win).

    Sections keyed by the node's name (with or without a leading slash or a namespace) and the `/**` wildcard
    apply; sections of other nodes are ignored. With `specs` (s2dhm_ros.ros.node_specs), values are typed as the
    node declares them (see `parameters.as_declared`); names the specs do not know are passed unchanged.
    """
    values: dict[str, Any] = {}
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"cannot read parameter file {path}: {e}") from e
        for key, section in data.items():
            if _applies(str(key), node_name) and isinstance(section, dict):
                values.update(flatten(section.get("ros__parameters") or {}))
    if specs is not None:
        by_name = {spec.name: spec for spec in specs}
        values = {name: as_declared(by_name[name], value) if name in by_name else value
                  for name, value in values.items()}
    return values


def _applies(key: str, node_name: str) -> bool:
    return key in ("/**", "**") or key.rstrip("/").split("/")[-1] == node_name
