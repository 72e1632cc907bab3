"""ROS parameters from the configuration dataclasses: one parameter per leaf field, named `section.field`.

The dataclasses are the only source of defaults and descriptions (the comment after each field); a ROS parameter
file such as config/localizer.yaml overrides them by name. A field whose default is None becomes a dynamically typed
parameter that is unset until given, since a ROS parameter cannot hold None.

Whole numbers for float settings: YAML reads `max_rate_hz: 5` as an integer, and rclpy refuses an INTEGER value for
a parameter declared with a float default (InvalidParameterTypeException, the node does not start). `as_declared`
turns such values into floats (by the field's type annotation, so None-default floats and float lists too): the
launch files apply it to what they read from parameter files, and the nodes to what they read back.
"""
from __future__ import annotations

import dataclasses
import inspect
import numbers
import re
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from ..config import flatten, from_dict, to_dict, unflatten

C = TypeVar("C")

_FIELD = re.compile(r"^\s+(\w+)\s*:[^#]*(?:#\s*(.+?))?\s*$")
_COMMENT = re.compile(r"^\s+#\s?(.*?)\s*$")


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: Any  # None: dynamically typed and unset
    description: str
    read_only: bool = False
    floating: bool = False  # a float field (or list of floats), possibly None: whole numbers given become floats


@lru_cache(maxsize=None)
def field_comments(cls: type) -> dict[str, str]:
    """{field: its comment} from the class's source: the comment after the field, else the comment lines right
    above it (empty when the source is unavailable)."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    above: list[str] = []
    for line in lines:
        if comment := _COMMENT.match(line):
            above.append(comment.group(1))
        elif field := _FIELD.match(line):
            text = field.group(2) or " ".join(above)
            if text:
                comments[field.group(1)] = text
            above = []
        else:
            above = []
    return comments


def _leaves(cls: type, prefix: str = "") -> list[tuple[str, type, dataclasses.Field]]:
    """(flat name, owning class, field) of every setting, nested config dataclasses walked."""
    instance = cls()
    out: list[tuple[str, type, dataclasses.Field]] = []
    for f in dataclasses.fields(cls):
        default = getattr(instance, f.name)
        if dataclasses.is_dataclass(default):
            out += _leaves(type(default), f"{prefix}{f.name}.")
        else:
            out.append((f"{prefix}{f.name}", cls, f))
    return out


def _is_floating(annotation: Any) -> bool:
    """float, float | None, list[float], list[float] | None (and Optional/List spellings)."""
    if annotation is float:
        return True
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return bool(args) and args[0] is float
    if args and type(None) in args:  # X | None, Optional[X]
        rest = [a for a in args if a is not type(None)]
        return len(rest) == 1 and _is_floating(rest[0])
    return False


def parameter_specs(config: Any, prefix: str = "", read_only: bool = False) -> list[ParameterSpec]:
    """The parameters of a config dataclass instance (its values are the defaults), names prefixed by `prefix`."""
    leaves = _leaves(type(config))
    descriptions = {name: field_comments(owner).get(f.name, f"{owner.__name__}.{f.name}") for name, owner, f in leaves}
    floating = {name for name, owner, f in leaves if _is_floating(typing.get_type_hints(owner).get(f.name))}
    return [ParameterSpec(prefix + name, value, descriptions[name], read_only, name in floating)
            for name, value in flatten(to_dict(config)).items()]


def _whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_declared(spec: ParameterSpec, value: Any) -> Any:
    """`value` with whole numbers made floats when `spec` is a float setting (5 -> 5.0, [0, 1] -> [0.0, 1.0], also
    from rclpy's array.array); anything else unchanged, so a wrong type (a string, a bool) is still refused."""
    if not spec.floating:
        return value
    if _whole(value):
        return float(value)
    if value is not None and not isinstance(value, (str, bytes, bool, numbers.Number)):
        items = list(value)
        if items and all(_whole(v) or isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items):
            return [float(v) for v in items]
    return value


def check_unique(specs: list[ParameterSpec]) -> list[ParameterSpec]:
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"parameter names declared twice: {duplicates}")
    return specs


def config_from_parameters(cls: type[C], values: dict[str, Any], prefix: str = "") -> C:
    """Build `cls` from parameter values named `prefix + field path`, ignoring parameters of other owners."""
    own = {name[len(prefix):]: value for name, value in values.items() if name.startswith(prefix)}
    known = set(flatten(to_dict(cls())))
    return from_dict(cls, unflatten({k: _plain(v) for k, v in own.items() if k in known}), "ROS parameters: ")


def _plain(value: Any) -> Any:
    """Array parameters come back from rclpy as array.array or numpy arrays: make them lists."""
    return value if isinstance(value, (str, bytes, bool, int, float)) or value is None else list(value)
