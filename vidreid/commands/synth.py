"""`vidreid synth`: render the SynthPed dataset (deterministic from --seed) in the MARS or DukeV layout, or with
--scenes full-frame multi-camera videos with MOTChallenge ground truth (a detection + tracking + re-ID benchmark)."""
from __future__ import annotations

from ..options import add_force_argument, add_overwrite_argument

import argparse

HELP = "render the synthetic SynthPed video re-ID dataset (MARS or DukeMTMC-VideoReID layout)"

# CLI flag -> SynthPedConfig field, for the main difficulty knobs (any field can also be set with --set KEY=VALUE)
_KNOBS = {
    "twin_rate": float, "occlusion_rate": float, "distractor_fraction": float, "junk_fraction": float,
    "palette_size": int, "texture_prob": float, "view_bias": float, "bad_detection_rate": float,
    "min_len": int, "max_len": int, "median_len": int, "max_tracklets_per_cam": int,
}


# --scenes options: SceneConfig field, default, help
_SCENE_KNOBS = [("transit", 6.0, "--itinerary: seconds of walking between neighbouring cameras"),
                ("single_cam_share", 0.2, "--itinerary: share of persons seen by one camera only"),
                ("twin_share", 0.0, "share of persons wearing an earlier person's clothes (near-twins)"),
                ("det_jitter", 0.0, "det.txt noise: box edges moved by this share of the box size (std)"),
                ("det_miss", 0.0, "det.txt noise: share of boxes missed"),
                ("det_false", 0.0, "det.txt noise: false boxes per frame")]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True,
                   help="output folder (created; a folder that already holds a SynthPed is replaced only with "
                        "--overwrite, any other non-empty folder never)")
    add_overwrite_argument(p, "replace the SynthPed dataset already in --out")
    p.add_argument("--ids", type=int, default=None,
                   help="labelled identities, half train / half test (default 300; --scenes: 8)")
    p.add_argument("--cams", type=int, default=None,
                   help="cameras: 2..6 with --layout mars, 2..8 with --layout dukev (default 6; --scenes: 3)")
    p.add_argument("--size", default=None,
                   help="frame HEIGHTxWIDTH (default 256x128; the demo uses 128x64; --scenes: 288x512)")
    p.add_argument("--scenes", action="store_true",
                   help="render full-frame scene videos per camera with MOTChallenge gt.txt instead of a dataset")
    # the --scenes options default to None here (their defaults apply in run_scenes): given without --scenes, refused
    p.add_argument("--frames", type=int, default=None, help="--scenes: frames per camera (default 150)")
    p.add_argument("--fps", type=float, default=None, help="--scenes: frame rate of the videos (default 10)")
    add_force_argument(p, "--scenes: replace OUT when it is an earlier scenes output")
    p.add_argument("--itinerary", action="store_true", help="--scenes: one shared clock, each person walking a route "
                   "through the cameras (with transit times; OUT/footage.yaml) instead of independent cameras")
    for name, default, what in _SCENE_KNOBS:
        p.add_argument("--" + name.replace("_", "-"), type=float, default=None, metavar="X",
                       help=f"--scenes: {what} (default {default:g})")
    p.add_argument("--seed", type=int, default=0, help="global seed: same seed and options, same bytes (default 0)")
    p.add_argument("--layout", default="mars", help="mars (bbox_train/bbox_test/info) or dukev (train/query/gallery)")
    p.add_argument("--workers", type=int, default=None, help="rendering processes (default: all CPU cores; a "
                   "dataset of under 8 megapixels renders in one)")
    for name, typ in _KNOBS.items():
        p.add_argument("--" + name.replace("_", "-"), type=typ, default=None, metavar=typ.__name__.upper(),
                       help=f"SynthPedConfig.{name}")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="set any SynthPedConfig field, e.g. --set gain_range=0.5 (repeatable)")
    p.add_argument("--quiet", "--no-progress", action="store_true", dest="quiet",
                   help="print no progress or statistics")


def _parse_bool(text: str) -> bool:
    """'true' / '1' / 'yes' / 'on' -> True, 'false' / '0' / 'no' / 'off' -> False (any case); ValueError otherwise."""
    words = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
    if text.lower() not in words:
        raise ValueError(text)
    return words[text.lower()]


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
            out[key] = {"int": int, "float": float, "str": str, "bool": _parse_bool}[types[key]](value.strip())
        except ValueError:
            raise ConfigError(f"--set {key}: expected {types[key]}, got {value!r}") from None
    return out


def run_scenes(args: argparse.Namespace) -> int:
    from ..data.synthped import parse_size
    from ..data.synthped.scenes import SceneConfig, generate_scenes
    h, w = parse_size(args.size or "288x512")
    cfg = SceneConfig(cams=3 if args.cams is None else args.cams, ids=8 if args.ids is None else args.ids,
                      frames=150 if args.frames is None else args.frames, height=h, width=w,
                      fps=10.0 if args.fps is None else args.fps, seed=args.seed, itinerary=args.itinerary,
                      **{k: d if getattr(args, k) is None else getattr(args, k) for k, d, _ in _SCENE_KNOBS})
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
    from ..validate import require_option
    for name in ["frames", "fps", "itinerary", "force"] + [k for k, _, _ in _SCENE_KNOBS]:
        value = getattr(args, name)
        require_option(value is not None and value is not False, "--" + name.replace("_", "-"), "--scenes", False)
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
