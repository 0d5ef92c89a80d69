"""The command-line options several subcommands share, defined once (vidreid/commands/ use them)."""
from __future__ import annotations

import argparse


def add_config_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--config", required=required, help="YAML config file (see configs/)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides, e.g. train.epochs=5 (anywhere after the command)")


def add_fuse_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """--fuse CONFIG and --fuse-weight W (eval and index build): `what` says what the fusion is used for."""
    p.add_argument("--fuse", metavar="CONFIG",
                   help=f"{what} the --checkpoint network fused with the classical feature of this config (e.g. "
                        "configs/fuse_lomo_xqda.yaml): distance-level fusion, weight and scales chosen on a held-out "
                        "part of the train split, written as a fused checkpoint next to --checkpoint "
                        "(docs/models.md, \"Fusion\"); a fused checkpoint can also be passed as --checkpoint")
    p.add_argument("--fuse-weight", default="auto", metavar="W",
                   help="with --fuse: the classical feature's weight in [0, 1], or auto (default: best validation mAP)")


def add_progress_argument(p: argparse.ArgumentParser, what: str = "no progress bars") -> None:
    """--no-progress (args.no_progress)."""
    p.add_argument("--no-progress", action="store_true", help=what)


def add_overwrite_argument(p: argparse.ArgumentParser, what: str) -> None:
    """--overwrite (args.overwrite): replace an existing output file (never an input)."""
    p.add_argument("--overwrite", action="store_true", help=what)


def add_force_argument(p: argparse.ArgumentParser, what: str) -> None:
    """--force (args.force): replace an earlier output folder of the same command."""
    p.add_argument("--force", action="store_true", help=what)
