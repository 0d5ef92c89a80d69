"""`vidreid associate`: tracklets of one or more cameras -> global identities (who went where, and when)."""
from __future__ import annotations

HELP = ("join tracklets of one or more cameras into global identities (multi-camera tracking): JSON, CSV, timeline, "
        "HTML")

EPILOG = """constraints (vidreid/tracking/associate.py): tracklets of one camera that overlap in time are different
people; with footage manifests (`vidreid tracklets --footage`) nobody is in two cameras at once or walks faster than
the manifest's transit times. Fragments within each camera are merged first, then across cameras.
output: OUT/identities.json, OUT/identities.csv, OUT/<camera>.global.txt (MOTChallenge, global ids),
        OUT/timeline.png, OUT/identities.html (one page, pictures embedded), OUT/tracklets.npz (features and ids
        for --update)
incremental: `vidreid associate today_pm --out people --update` adds new tracklets to the identities in people/"""


def add_arguments(p):
    import argparse
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("tracklets", nargs="+", metavar="TRACKLETS", help="`vidreid tracklets` output folders")
    p.add_argument("--out", required=True, help="output folder (must not exist, unless --force)")
    p.add_argument("--checkpoint", help="re-ID checkpoint for appearance (default: colour histograms of the centre "
                   "of the crops, no model)")
    p.add_argument("--threshold", type=float, default=None,
                   help="merge clusters whose average distance (1 - cos) is at most this (default: 0.6 with the "
                        "colour histograms, 0.4 with a checkpoint: benchmarks/mtmc.py's choices on SynthPed "
                        "itinerary scenes; tune it on footage like yours, docs/search.md)")
    p.add_argument("--within-threshold", type=float, help="the same within one camera (default: --threshold)")
    p.add_argument("--no-constraints", action="store_true", help="appearance only (ignore times; a baseline)")
    p.add_argument("--slack", type=float, default=0.0, help="seconds of tolerance on every transit time (0)")
    p.add_argument("--neighbours", type=int, default=30, metavar="K",
                   help="cluster on the K-nearest-neighbour graph of the features (30; with at most K + 1 tracklets "
                        "every pair, exact): memory and time grow with N * K, not N^2; a person seen in more than "
                        "K + 1 tracklets may need a larger K")
    p.add_argument("--force", action="store_true", help="replace OUT when it is an earlier associate output")
    p.add_argument("--update", action="store_true",
                   help="incremental: OUT is an earlier associate output; its identities keep their ids and "
                        "members, the tracklets of TRACKLETS it does not hold yet join them or become new "
                        "identities (same --checkpoint as before; the constraints hold against existing members)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the identities document as JSON")


def run(args) -> int:
    import json

    from ..tracking.associate import AssociateConfig
    from ..workflows.identities import describe, run_associate

    from ..errors import ConfigError
    if args.neighbours < 1:
        raise ConfigError(f"--neighbours must be >= 1, got {args.neighbours}")
    import os
    seen = set()
    for folder in args.tracklets:                                 # loop over the command's folder arguments
        if os.path.abspath(folder) in seen:
            raise ConfigError(f"{folder}: given twice (its tracklets would count as another person's)")
        seen.add(os.path.abspath(folder))
    from ..workflows.identities import default_threshold
    threshold = args.threshold if args.threshold is not None else default_threshold(args.checkpoint)
    cfg = AssociateConfig(threshold, args.within_threshold, not args.no_constraints, args.slack, args.neighbours)
    doc = run_associate(args.tracklets, args.out, cfg, args.checkpoint, args.force, not args.no_progress,
                        args.update)
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    for p in doc["identities"]:
        print(describe(p))
    print(f"{len(doc['identities'])} identities from {doc['tracklets']} tracklets of {len(doc['cameras'])} cameras"
          + ("" if doc["shared_clock"] else " (no shared clock: only the within-camera time rule applied)")
          + f" -> {args.out} (identities.json, identities.csv, timeline.png, identities.html)")
    return 0
