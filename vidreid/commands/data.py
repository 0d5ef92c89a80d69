"""`vidreid data check ROOT --dataset NAME`: per-split statistics and every problem of a dataset root.

Exit status: 0 clean, 1 problems found, 2 wrong root (the expected layout is printed) or other user error (an
unknown dataset or -o option: one line naming the accepted ones).
"""
from __future__ import annotations

from ..options import add_overwrite_argument, add_progress_argument

import argparse

HELP = "dataset tools: `data check ROOT --dataset NAME` prints statistics and every problem found"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    c = sub.add_parser("check", help="statistics per split and every problem of a dataset root",
                       description="Index the dataset as its loader does, read and decode every frame in parallel "
                                   "workers, and list every problem found (missing/corrupt frames, empty "
                                   "tracklets, name/metadata mismatches, pids or cameras out of range, frames in "
                                   "several tracklets). Exit status 0 clean, 1 problems, 2 wrong root.")
    c.add_argument("root", help="dataset root folder (for --dataset manifest: the manifest file or its folder)")
    c.add_argument("--dataset", required=True,
                   help="dukev | ilidsvid | lsvid | manifest | mars | prid2011 | synthped")
    c.add_argument("--split", type=int, default=0, help="split index for ilidsvid / prid2011 (default 0)")
    c.add_argument("--workers", type=int, default=None, help="frame-reading processes (default: all CPU cores)")
    c.add_argument("--fix-report", metavar="FILE", help="also write the statistics and problems as JSON (an existing "
                                                        "file is replaced only with --overwrite)")
    add_overwrite_argument(c, "replace an existing --fix-report file")
    c.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="loader option, e.g. -o subset=val (lsvid), -o min_frames=21 (prid2011); repeatable")
    add_progress_argument(c, "no progress bar")


def _options(items: list[str]) -> dict:
    import yaml

    from ..errors import ConfigError
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--option {item!r} is not of the form KEY=VALUE")
        key, value = item.split("=", 1)
        if key.strip() == "split":
            raise ConfigError("give the split with --split N, not -o split=N")
        out[key.strip()] = yaml.safe_load(value) if value else ""
    return out


def run(args) -> int:
    import sys

    from ..data.check import check_dataset, format_report, write_fix_report
    from ..data.datasets.issues import RootError
    from ..utils.io import check_output_file

    if args.fix_report:   # checked before the (long) check, not after it
        check_output_file(args.fix_report, "--fix-report", args.overwrite, inputs={"dataset root": args.root})
    try:
        report = check_dataset(args.dataset, args.root, split=args.split, workers=args.workers,
                               progress=not args.no_progress, **_options(args.option))
    except RootError as e:
        print(f"vidreid data check: error: {e}", file=sys.stderr)
        if e.layout:
            print(f"expected layout for --dataset {args.dataset}:\n{e.layout}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.fix_report:
        write_fix_report(report, args.fix_report)
        print(f"report written to {args.fix_report}")
    return 0 if report.ok else 1
