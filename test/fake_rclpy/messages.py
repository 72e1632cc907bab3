"""Strict stand-ins for rclpy's generated message classes, built from the rosbags ROS 2 Humble definitions.

They mirror what rosidl_generator_py enforces, which rosbags' dataclasses do not: keyword-only construction with
defaults for every field, an AssertionError for an unknown keyword or a value of the wrong Python type (a float
field rejects an int, an integer field rejects a numpy integer, a `byte` is a 1-byte `bytes`), fixed-size numeric
arrays held as numpy arrays of the exact size, `byte` constants as bytes.
"""
from __future__ import annotations

import array
import types
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore

_STORE = get_typestore(Stores.ROS2_HUMBLE)
_FLOATS = {"float32", "float64"}
_INTS = {"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "char"}
_ARRAY_CODES = {"float32": "f", "float64": "d", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H",
                "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q"}
_CLASSES: dict[str, type] = {}


def _check_base(kind: str, value: Any, field: str) -> Any:
    if kind in _FLOATS:
        assert isinstance(value, float), f"The '{field}' field must be of type 'float'"
    elif kind in _INTS:
        assert isinstance(value, int), f"The '{field}' field must be of type 'int'"
    elif kind == "bool":
        assert isinstance(value, bool), f"The '{field}' field must be of type 'bool'"
    elif kind == "byte":
        assert isinstance(value, bytes) and len(value) == 1, f"The '{field}' field must be of type 'bytes' (1 byte)"
    elif kind in ("string", "wstring"):
        assert isinstance(value, str), f"The '{field}' field must be of type 'str'"
    return value


def _default(definition: tuple) -> Any:
    node, detail = definition
    if node == Nodetype.BASE:
        kind = detail[0]
        return {"bool": False, "byte": b"\x00", "string": "", "wstring": ""}.get(kind, 0.0 if kind in _FLOATS else 0)
    if node == Nodetype.NAME:
        return message_class(detail)()
    (inner_node, inner), size = detail
    if node == Nodetype.ARRAY and inner_node == Nodetype.BASE and inner[0] in _ARRAY_CODES:
        return np.zeros(size, dtype=np.dtype(_ARRAY_CODES[inner[0]]))
    if node == Nodetype.SEQUENCE and inner_node == Nodetype.BASE and inner[0] in _ARRAY_CODES:
        return array.array(_ARRAY_CODES[inner[0]])
    return [_default((inner_node, inner)) for _ in range(size)] if node == Nodetype.ARRAY else []


def _check(definition: tuple, value: Any, field: str) -> Any:
    node, detail = definition
    if node == Nodetype.BASE:
        return _check_base(detail[0], value, field)
    if node == Nodetype.NAME:
        assert isinstance(value, message_class(detail)), f"The '{field}' field must be a sub message of type {detail}"
        return value
    (inner_node, inner), size = detail
    if inner_node == Nodetype.BASE and inner[0] in _ARRAY_CODES:
        code = _ARRAY_CODES[inner[0]]
        if node == Nodetype.ARRAY:
            if isinstance(value, np.ndarray):
                assert value.dtype == np.dtype(code) and value.size == size, \
                    f"The '{field}' numpy.ndarray() must have the dtype of '{np.dtype(code)}' and size {size}"
                return value
            assert len(value) == size, f"The '{field}' field must have {size} elements"
            return np.array([_check_base(inner[0], v, field) for v in value], dtype=np.dtype(code))
        if isinstance(value, (bytes, bytearray)) and code == "B":
            return array.array("B", value)
        if isinstance(value, array.array):
            assert value.typecode == code, f"The '{field}' array.array() must have the type code of '{code}'"
            return value
        return array.array(code, [_check_base(inner[0], v, field) for v in value])
    items = list(value)
    if node == Nodetype.ARRAY:
        assert len(items) == size, f"The '{field}' field must have {size} elements"
    return [_check((inner_node, inner), v, field) for v in items]


def message_class(name: str, definitions: tuple | None = None) -> type:
    """The stand-in class of "pkg/msg/Name" (definitions: (constants, fields) when not a rosbags type)."""
    if name in _CLASSES:
        return _CLASSES[name]
    constants, fields = definitions or _STORE.fielddefs[name]
    field_defs = dict(fields)

    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(field_defs)
        assert not unknown, f"Invalid arguments passed to constructor: {', '.join(sorted(unknown))}"
        for field, definition in field_defs.items():
            setattr(self, field, kwargs[field] if field in kwargs else _default(definition))

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and all(
            np.array_equal(getattr(self, f), getattr(other, f)) if isinstance(getattr(self, f), np.ndarray)
            else getattr(self, f) == getattr(other, f) for f in field_defs)

    def _property(field: str, definition: tuple) -> property:
        return property(lambda self: getattr(self, "_" + field),
                        lambda self, value: object.__setattr__(self, "_" + field, _check(definition, value, field)))

    namespace: dict[str, Any] = {"__slots__": tuple("_" + f for f in field_defs), "__init__": __init__,
                                 "__eq__": __eq__, "__hash__": None, "__msgtype__": name,
                                 "get_fields_and_field_types": classmethod(lambda cls: dict.fromkeys(field_defs))}
    namespace.update({f: _property(f, d) for f, d in field_defs.items()})
    for constant, kind, value in constants:
        namespace[constant] = bytes([value]) if kind == "byte" else value
    cls = type(name.rsplit("/", 1)[1], (), namespace)
    _CLASSES[name] = cls
    return cls


def package_module(package: str, kind: str, names: list[str]) -> types.ModuleType:
    module = types.ModuleType(f"{package}.{kind}")
    for name in names:
        setattr(module, name, message_class(f"{package}/{kind}/{name}"))
    return module


def trigger_service() -> type:
    """std_srvs/srv/Trigger (not in the rosbags message store): Request {} and Response {success, message}."""
    request = message_class("std_srvs/srv/Trigger_Request", ([], []))
    response = message_class("std_srvs/srv/Trigger_Response", ([], [
        ("success", (Nodetype.BASE, ("bool", 0))), ("message", (Nodetype.BASE, ("string", 0)))]))
    return type("Trigger", (), {"Request": request, "Response": response})


def empty_service() -> type:
    """std_srvs/srv/Empty: empty Request and Response."""
    return type("Empty", (), {"Request": message_class("std_srvs/srv/Empty_Request", ([], [])),
                              "Response": message_class("std_srvs/srv/Empty_Response", ([], []))})


def from_rosbags(msg: Any) -> Any:
    """The stand-in rclpy message equal to a rosbags message (as `ros2 bag play` would deliver it)."""
    _, fields = _STORE.fielddefs[msg.__msgtype__]
    return message_class(msg.__msgtype__)(**{name: _convert(definition, getattr(msg, name))
                                             for name, definition in fields})


def _convert(definition: tuple, value: Any) -> Any:
    node, detail = definition
    if node == Nodetype.NAME:
        return from_rosbags(value)
    if node == Nodetype.BASE:
        kind = detail[0]
        return (float(value) if kind in _FLOATS else bytes([int(value)]) if kind == "byte"
                else int(value) if kind in _INTS else value)
    (inner_node, inner), _ = detail
    if inner_node == Nodetype.BASE and inner[0] in _ARRAY_CODES:
        values = np.asarray(value, dtype=np.dtype(_ARRAY_CODES[inner[0]]))
        return values if node == Nodetype.ARRAY else array.array(_ARRAY_CODES[inner[0]], values.tobytes())
    return [_convert((inner_node, inner), v) for v in value]
