"""`vidreid synth`: render the SynthPed dataset (deterministic from --seed) in the MARS or DukeV layout, or with
--scenes full-frame multi-camera videos with MOTChallenge ground truth (a detection + tracking + re-ID benchmark)."""
from __future__ import annotations

import argparse

HELP = "render the synthetic SynthPed video re-ID dataset (MARS or DukeMTMC-VideoReID layout)"

# CLI flag -> SynthPedConfig field, for the main difficulty knobs (any field can also be set with --set KEY=VALUE)
_KNOBS = {
    "twin_rate": float, "occlusion_rate": float, "distractor_fraction": float, "junk_fraction": float,
    "palette_size": int, "texture_prob": float, "view_bias": float, "bad_detection_rate": float,
    "min_len": int, "max_len": int, "median_len": int, "max_tracklets_per_cam": int,
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True,
                   help="output folder (created; a folder that already holds a SynthPed is replaced only with "
                        "--overwrite, any other non-empty folder never)")
    p.add_argument("--overwrite", action="store_true", help="replace the SynthPed dataset already in --out")
    p.add_argument("--ids", type=int, default=None,
                   help="labelled identities, half train / half test (default 300; --scenes: 8)")
    p.add_argument("--cams", type=int, default=None,
                   help="cameras: 2..6 with --layout mars, 2..8 with --layout dukev (default 6; --scenes: 3)")
    p.add_argument("--size", default=None,
                   help="frame HEIGHTxWIDTH (default 256x128; the demo uses 128x64; --scenes: 288x512)")
    p.add_argument("--scenes", action="store_true",
                   help="render full-frame scene videos per camera with MOTChallenge gt.txt instead of a dataset")
    p.add_argument("--frames", type=int, default=150, help="--scenes: frames per camera (default 150)")
    p.add_argument("--fps", type=float, default=10.0, help="--scenes: frame rate of the videos (default 10)")
    p.add_argument("--force", action="store_true", help="--scenes: replace OUT when it is an earlier scenes output")
    p.add_argument("--seed", type=int, default=0, help="global seed: same seed and options, same bytes (default 0)")
    p.add_argument("--layout", default="mars", help="mars (bbox_train/bbox_test/info) or dukev (train/query/gallery)")
    p.add_argument("--workers", type=int, default=None, help="rendering processes (default: all CPU cores)")
    for name, typ in _KNOBS.items():
        p.add_argument("--" + name.replace("_", "-"), type=typ, default=None, metavar=typ.__name__.upper(),
                       help=f"SynthPedConfig.{name}")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="set any SynthPedConfig field, e.g. --set gain_range=0.5 (repeatable)")
    p.add_argument("--quiet", "--no-progress", action="store_true", dest="quiet",
                   help="print no progress or statistics")


def _parse_sets(items: list[str]) -> dict:
    import dataclasses

    from ..data.synthped import SynthPedConfig
    from ..errors import ConfigError

    types = {f.name: f.type for f in dataclasses.fields(SynthPedConfig)}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in types:
            raise ConfigError(f"--set expects KEY=VALUE with KEY a SynthPedConfig field "
                              f"({', '.join(sorted(types))}), got {item!r}")
        try:
            out[key] = {"int": int, "float": float, "str": str}[types[key]](value.strip())
        except ValueError:
            raise ConfigError(f"--set {key}: expected {types[key]}, got {value!r}") from None
    return out


def run_scenes(args: argparse.Namespace) -> int:
    from ..data.synthped import parse_size
    from ..data.synthped.scenes import SceneConfig, generate_scenes
    h, w = parse_size(args.size or "288x512")
    cfg = SceneConfig(cams=3 if args.cams is None else args.cams, ids=8 if args.ids is None else args.ids,
                      frames=args.frames, height=h, width=w, fps=args.fps, seed=args.seed)
    doc = generate_scenes(args.out, cfg, progress=not args.quiet, force=args.force)
    if not args.quiet:
        for c in doc["cameras"]:
            print(f"{c['camera']}: {args.out}/{c['video']}, {c['gt_rows']} ground-truth boxes of "
                  f"{len(c['identities'])} identities")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..data.synthped import generate_synthped, make_config, read_marker
    from ..data.synthped.writer import config_differences
    from ..errors import ConfigError

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.scenes:
        return run_scenes(args)
    options = dict(ids=300 if args.ids is None else args.ids, cams=6 if args.cams is None else args.cams,
                   size=args.size or "256x128", seed=args.seed,
                   layout=args.layout)
    options.update({k: getattr(args, k) for k in _KNOBS if getattr(args, k) is not None})
    options.update(_parse_sets(args.set))
    cfg = make_config(None, **options)  # validates every value before anything is written
    meta = read_marker(args.out)
    if meta is not None and not args.overwrite and not config_differences(meta, cfg):
        if not args.quiet:
            print(f"{args.out} already holds this SynthPed dataset (same options and generator): nothing to do")
        return 0
    generate_synthped(args.out, cfg, workers=args.workers, progress=not args.quiet, overwrite=args.overwrite)
    return 0
