"""Command-line options generated from config dataclasses, so that defaults live in one place."""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any


def add_dataclass_options(parser: argparse.ArgumentParser | Any, cls: type, help_prefix: str = "") -> None:
    """One `--field-name` option per (scalar or list) field of `cls`; its default stays None (= the dataclass's)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        args = typing.get_args(kind)
        base = next((a for a in args if a is not type(None)), kind)
        option = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        text = f"{help_prefix}(default: {default})"
        if typing.get_origin(base) is list:
            parser.add_argument(option, dest=f.name, type=float, nargs="+", default=None, help=text)
        elif base is bool:
            parser.add_argument(option, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            parser.add_argument(option, dest=f.name, type=base, default=None, help=text)


def dataclass_from_options(cls: type, args: argparse.Namespace, base: Any = None) -> Any:
    """`base` (or the defaults) with the options the user gave."""
    base = base if base is not None else cls()
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}
    return dataclasses.replace(base, **given)
