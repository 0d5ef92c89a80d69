"""Helpers shared by subcommands."""
from __future__ import annotations

import argparse
import os
import sys


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


def trained_on(meta: dict, cfg, dataset) -> bool:
    """Is `dataset` (at cfg.data.root) the one the checkpoint of `meta` was trained on? Only then do its features
    and pictures belong in the checkpoint's run folder."""
    saved_data = (meta.get("config") or {}).get("data") or {}
    same_name = meta.get("dataset") in (None, dataset.name)
    return same_name and (not saved_data.get("root") or
                          os.path.abspath(saved_data["root"]) == os.path.abspath(cfg.data.root))


def feature_cache_folder(features_dir: str | None, meta: dict, cfg, dataset, checkpoint: str, command: str
                         ) -> tuple[bool, str | None]:
    """(cache enabled, folder) for the feature cache of `vidreid eval`: the default <run dir>/features belongs to
    the checkpoint's run, so features of another dataset (or another root) are not written there: no cache then,
    unless --features-dir names a folder for them."""
    if features_dir:
        return True, features_dir
    if trained_on(meta, cfg, dataset):
        return True, None
    saved_data = (meta.get("config") or {}).get("data") or {}
    print(f"vidreid {command}: note: {checkpoint} was trained on {meta.get('dataset')} ({saved_data.get('root')}); "
          f"not caching the features of {dataset.name} ({cfg.data.root}) in its run folder (pass --features-dir to "
          f"cache them)", file=sys.stderr)
    return False, None
