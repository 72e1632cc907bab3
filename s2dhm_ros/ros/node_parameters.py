"""Declaring and reading `ParameterSpec`s on an rclpy node (the only part of parameter handling that needs rclpy).

A float setting is declared with its float default, so rclpy types it DOUBLE. A parameter file given straight to the
node (`--ros-args --params-file`, not through our launch files, which type the values) may still hold a whole
number for it (`max_rate_hz: 5`): rclpy refuses that override with InvalidParameterTypeException and stores nothing.
Such a float setting is then declared again, dynamically typed, and its value read back as a float; any other type
mismatch still stops the node.
"""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node

from .parameters import ParameterSpec, as_declared


def _descriptor(spec: ParameterSpec, dynamic_typing: bool) -> ParameterDescriptor:
    # A fresh descriptor per declaration: rclpy writes the inferred type into the one it is given.
    return ParameterDescriptor(name=spec.name, description=spec.description, read_only=spec.read_only,
                               dynamic_typing=dynamic_typing)


def declare(node: Node, specs: list[ParameterSpec]) -> None:
    for spec in specs:
        try:
            node.declare_parameter(spec.name, spec.default, _descriptor(spec, spec.default is None))
        except InvalidParameterTypeException:
            if not spec.floating:
                raise
            parameter = node.declare_parameter(spec.name, spec.default, _descriptor(spec, True))
            value = as_declared(spec, parameter.value)
            if not isinstance(value, (float, list)):
                raise ValueError(f"parameter {spec.name} must be a number, got {parameter.value!r}") from None
            node.get_logger().warning(f"parameter {spec.name}: {parameter.value!r} given for a float setting, read "
                                      f"as {value!r} (write {value!r} in the parameter file)")


def values(node: Node, specs: list[ParameterSpec]) -> dict[str, Any]:
    return {spec.name: as_declared(spec, node.get_parameter(spec.name).value) for spec in specs}
