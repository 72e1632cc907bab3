"""Declaring and reading `ParameterSpec`s on an rclpy node (the only part of parameter handling that needs rclpy)."""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from .parameters import ParameterSpec


def declare(node: Node, specs: list[ParameterSpec]) -> None:
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, ParameterDescriptor(
            name=spec.name, description=spec.description, read_only=spec.read_only,
            dynamic_typing=spec.default is None))


def values(node: Node, specs: list[ParameterSpec]) -> dict[str, Any]:
    return {spec.name: node.get_parameter(spec.name).value for spec in specs}
