"""The `s2dhm` command. Each sub-command lives in its own module with a `register(subparsers)`
function that adds its parser and sets `func`; this module only wires them together."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Modules providing sub-commands, in the order `s2dhm --help` lists them.
COMMAND_MODULES = [
    "s2dhm_ros.cli.demo",
    "s2dhm_ros.cli.map_commands",
    "s2dhm_ros.cli.verify_map_command",
    "s2dhm_ros.cli.localize_commands",
    "s2dhm_ros.cli.evaluate_commands",
    "s2dhm_ros.cli.bag_commands",
    "s2dhm_ros.cli.demo_data_commands",
    "s2dhm_ros.cli.benchmark_commands",
    "s2dhm_ros.cli.train_commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2dhm", description="Sparse-to-Dense Hypercolumn Matching: maps and 6-DoF localization.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as e:  # user-facing errors: no traceback
        if args.verbose:
            raise
        print(f"s2dhm {args.command}: error: {e}", file=sys.stderr)
        return 2


