"""Helpers shared by subcommands."""
from __future__ import annotations

import argparse


def add_config_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--config", required=required, help="YAML config file (see configs/)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. train.epochs=5")


def load_cli_config(args):
    from ..config import load_config
    return load_config(args.config, args.overrides)
