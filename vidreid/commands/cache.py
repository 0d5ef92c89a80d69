"""`vidreid cache build`: decode every frame of the configured dataset once into a memory-mapped uint8 frame cache
(vidreid/data/frame_cache.py); loaders read it when data.frame_cache names it."""
from __future__ import annotations

from ..options import add_config_arguments, add_force_argument, add_progress_argument

HELP = "build a pre-decoded uint8 frame cache of the configured dataset (then set data.frame_cache)"


def add_arguments(p):
    p.add_argument("action", choices=["build"], help="build: decode the dataset's frames into the cache")
    add_config_arguments(p)
    p.add_argument("--out", default=None, help="cache folder (default: data.frame_cache of the config)")
    add_force_argument(p, "replace an existing frame cache at --out (and only one)")
    add_progress_argument(p, "no progress bar")


def run(args) -> int:
    from ..builders import prepare_dataset
    from ..config import load_config
    from ..data.frame_cache import build_frame_cache, dataset_frames
    from ..errors import ConfigError
    cfg = load_config(args.config, list(args.overrides))
    out = args.out or cfg.data.frame_cache
    if not out:
        raise ConfigError("vidreid cache build: give --out FOLDER or set data.frame_cache in the config")
    dataset = prepare_dataset(cfg, progress=not args.no_progress)
    meta = build_frame_cache(dataset_frames(dataset), out, cfg.data.height, cfg.data.width, force=args.force,
                             progress=not args.no_progress)
    bad = len(meta["unreadable"])
    print(f"frame cache {out}: {meta['count']} frames" + (f" ({bad} unreadable, decoded from the files when used)"
                                                          if bad else "")
          + f"; use it with data.frame_cache={out}")
    return 0
