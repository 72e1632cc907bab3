"""ROS parameters from the configuration dataclasses: one parameter per leaf field, named `section.field`.

The dataclasses are the only source of defaults and descriptions (the comment after each field); a ROS parameter
file such as config/localizer.yaml overrides them by name. A field whose default is None becomes a dynamically typed
parameter that is unset until given, since a ROS parameter cannot hold None.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
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


def _descriptions(cls: type, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    comments = field_comments(cls)
    for f in dataclasses.fields(cls):
        default = getattr(cls(), f.name)
        if dataclasses.is_dataclass(default):
            out.update(_descriptions(type(default), f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = comments.get(f.name, f"{cls.__name__}.{f.name}")
    return out


def parameter_specs(config: Any, prefix: str = "", read_only: bool = False) -> list[ParameterSpec]:
    """The parameters of a config dataclass instance (its values are the defaults), names prefixed by `prefix`."""
    descriptions = _descriptions(type(config))
    return [ParameterSpec(prefix + name, value, descriptions[name], read_only)
            for name, value in flatten(to_dict(config)).items()]


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
